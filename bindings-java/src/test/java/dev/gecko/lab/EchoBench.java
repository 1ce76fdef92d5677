package dev.gecko.lab;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Java binding's echo benchmark (issue 17, root): echo throughput over one connection through
 * {@code examples/java/EchoServer.java} on Gecko at G against {@code bindings-java/bench/PlainEchoServer.java}
 * (a plain {@code java.net.ServerSocket}, the same loop) on the same node, measured from the same client
 * host by {@code bindings-java/bench/EchoClient.java}, the paths alternating round by round in one run. A
 * lab {@code gk-jbench} of one node and one client, taken down however the run ends.
 *
 * <pre>
 * cd bindings-java &amp;&amp; java -cp target/gecko-0.1.0.jar:target/test-classes:JACKSON [-Dgecko.jar=JAR] \
 *     [-Dgecko.bench.sources=DIR] dev.gecko.lab.EchoBench [--rounds 5] [--bytes 268435456]
 * </pre>
 *
 * <p>The plain server listens on {@code [::]:7007} in node1's namespace and is measured twice: at
 * {@code [G]:7007}, where the client's packets take the way G's traffic takes to node1 (through the home
 * agent, encapsulated, into node1's reception of G) and its answers leave from G as Gecko's do, and at
 * node1's own address (plain routing, for reference). At G the plain server's FIN never leaves node1 (the
 * node fence passes only those of Gecko's sockets), so EchoClient times to the last echoed byte. The
 * ratio the issue asks for, at least 0.9, is Gecko / plain at G. Prints each round, the medians and the
 * ratios.

 */
public final class EchoBench {
    /** The lab's name: at most 15 characters, this benchmark's alone. */
    static final String NAME = "gk-jbench";
    static final int GECKO_PORT = 7;
    static final int PLAIN_PORT = 7007;

    private final Lab lab;

    private EchoBench(Lab lab) {
        this.lab = lab;
    }

    /** Waits until the log {@code log} of {@code p} holds {@code word}. */
    private void await(Process p, String log, String word) throws Exception {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!lab.log(log).contains(word)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException(log + " not serving: " + lab.log(log));
            }
            Thread.sleep(100);
        }
    }

    /** One EchoClient run from {@code client}: MB/s. */
    private double echo(String client, String java, String host, int port, long bytes) throws Exception {
        Lab.Result r = lab.exec(client, 300, java, source("bindings-java/bench/EchoClient.java"),
                "--host", host, "--port", "" + port, "--bytes", "" + bytes);
        String line = r.out().lines().filter(l -> l.startsWith("echo ")).findFirst().orElse("");
        if (r.exit() != 0 || !line.contains("sha256=ok")) {
            throw new IllegalStateException("EchoClient to [" + host + "]:" + port + " failed (" + r.exit() + "): "
                    + r.out());
        }
        return Double.parseDouble(line.replaceAll(".* mbps=([0-9.]+).*", "$1"));
    }

    /** A Java program the lab runs: from -Dgecko.bench.sources (bench.sh's copies) if set, else the tree. */
    static String source(String inRepo) {
        String dir = System.getProperty("gecko.bench.sources");
        return (dir == null ? Lab.REPO.resolve(inRepo) : Path.of(dir, Path.of(inRepo).getFileName().toString())).toString();
    }

    static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /**
     * Runs the benchmark.
     *
     * @param args {@code --rounds N} (5), {@code --bytes N} per run (256 MiB)
     * @throws Exception if the lab or a run fails (the lab is taken down all the same)
     */
    public static void main(String[] args) throws Exception {
        int rounds = 5;
        long bytes = 256L << 20;
        for (int i = 0; i < args.length; i++) {
            if (i + 1 < args.length && args[i].equals("--rounds")) {
                rounds = Integer.parseInt(args[++i]);
            } else if (i + 1 < args.length && args[i].equals("--bytes")) {
                bytes = Long.parseLong(args[++i]);
            } else {
                throw new IllegalArgumentException("unknown flag or missing value: " + args[i]);
            }
        }
        String reason = Lab.skipReason();
        // The JAR the servers run: -Dgecko.jar (bench.sh's own copy), else the build's.
        Path jar = Path.of(System.getProperty("gecko.jar",
                "target/gecko-" + System.getProperty("gecko.version", "0.1.0") + ".jar")).toAbsolutePath();
        if (reason == null && !Files.isRegularFile(jar)) {
            reason = "no JAR at " + jar + ": run `mvn package` first";
        }
        if (reason != null) {
            System.err.println("EchoBench: cannot run: " + reason);
            System.exit(2);
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Lab lab = new Lab(NAME, 1, 1);
        EchoBench bench = new EchoBench(lab);
        try {
            String node = "node1";
            String client = "client1";
            String nodeAddress = lab.address(node);
            // Returns once the node serves its metrics and has reported its load.
            List<Process> gecko = lab.startServers(List.of(node), "echo", jar.toString(),
                    source("examples/java/EchoServer.java"), "--policy", "round-robin", "--port", "" + GECKO_PORT);
            Process plain = lab.spawn(node, "plain-echo.log", java,
                    source("bindings-java/bench/PlainEchoServer.java"), "--port", "" + PLAIN_PORT);
            bench.await(plain, "plain-echo.log", "ready");

            // The paths; each round starts one further down the list, so none always follows the same one.
            Map<String, String[]> paths = new LinkedHashMap<>();
            paths.put("gecko", new String[] {lab.g, "" + GECKO_PORT, "EchoServer.java on Gecko at [G]:" + GECKO_PORT});
            paths.put("plain-G", new String[] {lab.g, "" + PLAIN_PORT, "plain ServerSocket at [G]:" + PLAIN_PORT});
            paths.put("plain-node", new String[] {nodeAddress, "" + PLAIN_PORT,
                "plain ServerSocket at node1's own address [" + nodeAddress + "]:" + PLAIN_PORT});
            List<String> keys = List.copyOf(paths.keySet());
            Map<String, List<Double>> results = new LinkedHashMap<>();
            keys.forEach(k -> results.put(k, new ArrayList<>()));
            System.out.printf("echo, one connection, %d MiB a run, %d alternating rounds after a warm-up round,"
                    + " G = %s; MB/s:%n", bytes >> 20, rounds, lab.g);
            System.out.printf("  %-10s%s%n", "", String.join("", keys.stream().map(k -> String.format(" %12s", k)).toList()));
            for (int round = 0; round <= rounds; round++) {
                Map<String, Double> got = new LinkedHashMap<>();
                for (int i = 0; i < keys.size(); i++) {
                    String k = keys.get((round + i) % keys.size());
                    String[] p = paths.get(k);
                    got.put(k, bench.echo(client, java, p[0], Integer.parseInt(p[1]), bytes));
                }
                StringBuilder line = new StringBuilder(String.format("  %-10s", round == 0 ? "warm-up" : "round " + round));
                for (String k : keys) {
                    if (round > 0) {
                        results.get(k).add(got.get(k));
                    }
                    line.append(String.format(" %12.1f", got.get(k)));
                }
                System.out.println(line);
            }
            Map<String, Double> medians = new LinkedHashMap<>();
            results.forEach((k, v) -> {
                medians.put(k, median(v));
                System.out.printf("  %-75s median %8.1f MB/s%n", paths.get(k)[2], medians.get(k));
            });
            System.out.printf("  ratio gecko / plain-G:    %.3f (target >= 0.9: same hosts, same route)%n",
                    medians.get("gecko") / medians.get("plain-G"));
            System.out.printf("  ratio gecko / plain-node: %.3f%n", medians.get("gecko") / medians.get("plain-node"));
            if (!gecko.get(0).isAlive() || !plain.isAlive()) {
                throw new IllegalStateException("a server died: " + lab.log("node1-echo.log") + lab.log("plain-echo.log"));
            }
        } finally {
            lab.down();
        }
    }
}
