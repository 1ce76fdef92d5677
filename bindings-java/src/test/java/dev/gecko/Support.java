package dev.gecko;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** What the unit tests share: addresses, clients, a JVM of their own. */
final class Support {
    static final Inet6Address N1 = v6("2001:db8:1:1::2");
    static final Inet6Address N2 = v6("2001:db8:1:2::2");
    static final Inet6Address N3 = v6("2001:db8:1:3::2");
    static final Inet6Address CLIENT = v6("2001:db8:2:1::2");

    private Support() {}

    static Inet6Address v6(String literal) {
        try {
            return (Inet6Address) InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** A client on node1 of three nodes. */
    static ClientInfo three(boolean[] available, int[] conns, Long[] rttMicros) {
        Inet6Address[] a = {N1, N2, N3};
        List<NodeInfo> nodes = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            java.time.Duration rtt = rttMicros[i] == null ? null : java.time.Duration.ofNanos(rttMicros[i] * 1000);
            nodes.add(new NodeInfo(a[i], conns[i], rtt, available[i]));
        }
        return new ClientInfo(CLIENT, 40000, N1, nodes);
    }

    static ClientInfo three() {
        return three(new boolean[] {true, true, true}, new int[] {0, 0, 0}, new Long[] {null, null, null});
    }

    /** The result of a class's main run in a new JVM with this test's class path. */
    record Run(int exit, String stdout, String stderr) {}

    static Run java(List<String> jvmArgs, Class<?> main, String... args) throws Exception {
        return java(System.getProperty("java.class.path"), jvmArgs, main, args);
    }

    /** The same with {@code classPath} only. */
    static Run java(String classPath, List<String> jvmArgs, Class<?> main, String... args) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", classPath));
        cmd.addAll(jvmArgs);
        cmd.add(main.getName());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        var out = new java.io.ByteArrayOutputStream();
        var err = new java.io.ByteArrayOutputStream();
        Thread t = new Thread(() -> {
            try {
                p.getErrorStream().transferTo(err);
            } catch (IOException ignored) {
                // the process ended
            }
        });
        t.start();
        p.getInputStream().transferTo(out);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("timed out: " + cmd);
        }
        t.join();
        return new Run(p.exitValue(), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
