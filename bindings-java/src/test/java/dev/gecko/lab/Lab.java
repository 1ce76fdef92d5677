package dev.gecko.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * A lab for the Java binding's tests (as bindings-python/tests/labutil.py): {@code gecko-lab} builds
 * network namespaces with the home agent and client agents; servers run in the nodes through
 * {@code gecko-lab exec}. {@link #down()} kills what was started here and takes the lab down.
 */
public final class Lab implements AutoCloseable {
    /** The repository's root. */
    public static final Path REPO = Path.of(System.getProperty("user.dir")).toAbsolutePath().getParent();
    /** Nodes report their load every 200 ms; policies pick only nodes heard from. */
    static final long LOAD_SETTLE_MS = 800;

    final String name;
    final String bin;
    public final String g;
    final Map<String, JsonNode> hosts = new TreeMap<>();
    public final List<String> nodes = new ArrayList<>();
    public final List<String> clients = new ArrayList<>();
    final Path logs;
    private final List<Process> procs = new ArrayList<>();

    /** The gecko-lab binary: $GECKO_LAB, else the newest build; null if none. */
    static String geckoLab() {
        String env = System.getenv("GECKO_LAB");
        if (env != null && !env.isEmpty()) {
            return env;
        }
        List<Path> roots = new ArrayList<>();
        if (System.getenv("CARGO_TARGET_DIR") != null) {
            roots.add(Path.of(System.getenv("CARGO_TARGET_DIR")));
        }
        roots.add(REPO.resolve("target"));
        return roots.stream()
                .flatMap(r -> List.of(r.resolve("release/gecko-lab"), r.resolve("debug/gecko-lab")).stream())
                .filter(Files::isRegularFile)
                .max(Comparator.comparingLong(p -> p.toFile().lastModified()))
                .map(Path::toString)
                .orElse(null);
    }

    /** Why lab tests cannot run here (null: they can). */
    public static String skipReason() throws IOException, InterruptedException {
        Process id = new ProcessBuilder("id", "-u").start();
        String uid = new String(id.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        id.waitFor();
        if (!uid.equals("0")) {
            return "lab tests need root (network namespaces)";
        }
        if (geckoLab() == null) {
            return "no gecko-lab binary: run `cargo build --workspace` first";
        }
        return null;
    }

    /** Takes any old lab of that name down, then brings a new one up. */
    public Lab(String name, int nodeCount, int clientCount) throws Exception {
        if (!name.startsWith("gk-j") || name.length() > 15) {
            throw new IllegalArgumentException("this binding's labs are named gk-j*, at most 15 characters");
        }
        this.name = name;
        this.bin = geckoLab();
        this.logs = Path.of("/tmp/" + name + "-logs");
        // A fresh directory: a log of an earlier run must not satisfy this one's checks.
        if (Files.isDirectory(logs)) {
            try (var old = Files.list(logs)) {
                for (Path f : old.toList()) {
                    Files.delete(f);
                }
            }
        }
        Files.createDirectories(logs);
        run(List.of(bin, "down", "--name", name), 120);
        Result up = run(List.of(bin, "up", "--name", name, "--nodes", "" + nodeCount, "--clients", "" + clientCount), 300);
        if (up.exit != 0) {
            throw new IllegalStateException("gecko-lab up failed: " + up.out);
        }
        JsonNode status = new ObjectMapper().readTree(run(List.of(bin, "status", "--name", name, "--json"), 60).out);
        this.g = status.get("global_address").asText();
        status.get("hosts").fields().forEachRemaining(e -> hosts.put(e.getKey(), e.getValue()));
        hosts.forEach((h, v) -> {
            if (v.get("role").asText().equals("node")) {
                nodes.add(h);
            } else if (v.get("role").asText().equals("client")) {
                clients.add(h);
            }
        });
    }

    /** A finished command's exit code and output (stdout then stderr). */
    public record Result(int exit, String out) {}

    static Result run(List<String> cmd, long timeoutSeconds) throws IOException, InterruptedException {
        File out = File.createTempFile("gk-java-run", ".out");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out).start();
            p.getOutputStream().close();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new IllegalStateException("timed out after " + timeoutSeconds + " s: " + cmd);
            }
            return new Result(p.exitValue(), Files.readString(out.toPath(), StandardCharsets.ISO_8859_1));
        } finally {
            out.delete();
        }
    }

    /** The address of {@code host}. */
    public String address(String host) {
        return hosts.get(host).get("address").asText();
    }

    /** {@code cmd} as run inside {@code host}. */
    public List<String> command(String host, String... cmd) {
        List<String> c = new ArrayList<>(List.of(bin, "exec", "--name", name, host, "--"));
        c.addAll(List.of(cmd));
        return c;
    }

    /** Runs {@code cmd} in {@code host} and waits. */
    public Result exec(String host, long timeoutSeconds, String... cmd) throws IOException, InterruptedException {
        return run(command(host, cmd), timeoutSeconds);
    }

    /** Starts {@code cmd} in {@code host}, its output to a log file; killed by {@link #killAll()}. */
    public Process spawn(String host, String log, String... cmd) throws IOException {
        Process p = new ProcessBuilder(command(host, cmd)).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logs.resolve(log).toFile())).start();
        p.getOutputStream().close();
        procs.add(p);
        return p;
    }

    /** What {@code log} holds. */
    public String log(String log) throws IOException {
        return Files.readString(logs.resolve(log), StandardCharsets.ISO_8859_1);
    }

    /** SIGKILLs {@code p} and what it started. */
    public void kill(Process p) throws InterruptedException {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
    }

    /** Kills everything started here. */
    public void killAll() throws InterruptedException {
        for (Process p : procs) {
            kill(p);
        }
        procs.clear();
    }

    /** The node's metrics text, or null when it does not serve them. */
    public String metrics(String host) throws IOException, InterruptedException {
        Result r = exec(host, 10, "curl", "-s", "--max-time", "2", hosts.get(host).get("metrics").asText());
        return r.exit == 0 && !r.out.isEmpty() ? r.out : null;
    }

    /** The value of {@code series} (name with labels, as printed) on each node, 0 where absent. */
    public List<Double> byNode(String series) throws IOException, InterruptedException {
        List<Double> values = new ArrayList<>();
        for (String n : nodes) {
            String text = metrics(n);
            double v = 0;
            for (String line : text == null ? new String[0] : text.split("\n")) {
                if (line.startsWith(series + " ")) {
                    v = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
            values.add(v);
        }
        return values;
    }

    /** Runs a Java example on each of {@code onNodes}; waits until each serves its metrics. */
    public List<Process> startServers(List<String> onNodes, String tag, String classPath, String... programAndArgs)
            throws Exception {
        List<Process> started = new ArrayList<>();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        for (String node : onNodes) {
            List<String> cmd = new ArrayList<>(List.of(java, "-cp", classPath));
            cmd.addAll(List.of(programAndArgs));
            started.add(spawn(node, node + "-" + tag + ".log", cmd.toArray(String[]::new)));
        }
        for (int i = 0; i < onNodes.size(); i++) {
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (metrics(onNodes.get(i)) == null) {
                if (!started.get(i).isAlive() || System.nanoTime() > deadline) {
                    throw new AssertionError(onNodes.get(i) + " not serving: " + log(onNodes.get(i) + "-" + tag + ".log"));
                }
                Thread.sleep(100);
            }
        }
        Thread.sleep(LOAD_SETTLE_MS);
        return started;
    }

    /** Kills what was started and takes the lab down. */
    public void down() throws Exception {
        killAll();
        run(List.of(bin, "down", "--name", name), 120);
    }

    @Override
    public void close() throws Exception {
        down();
    }
}
