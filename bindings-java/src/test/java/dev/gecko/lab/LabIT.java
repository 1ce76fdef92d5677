package dev.gecko.lab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Lab tests (root): the Java examples on three nodes with the real daemons, clients in the lab's
 * client hosts, checked by SHA-256 both ways and by the nodes' own metrics. One lab (gk-java-lab) for
 * all of them, taken down however they end; each test's servers are killed however it ends. Run by
 * {@code mvn verify} (Failsafe, after the JAR is built); where GECKO_JAVA_LAB_REQUIRED=1 a missing
 * prerequisite fails instead of skipping.
 */
class LabIT {
    /** The lab clients every language's tests share (tests/clients/). */
    static final String MID_STREAM_CLIENT = Lab.REPO.resolve("tests/clients/mid_stream_echo.py").toString();
    static final String MANY_CLIENT = Lab.REPO.resolve("tests/clients/many_echoes.py").toString();

    /** NodeChecks' other half: one connection per check, in its order; prints {@code ok NAME} per check. */
    static final String CHECKS_CLIENT = String.join("\n",
            "import hashlib, os, socket, struct, sys, threading",
            "g = sys.argv[1]",
            "def conn():",
            "    return socket.create_connection((g, 7), timeout=30)",
            "def exact(s, n):",
            "    b = bytearray()",
            "    while len(b) < n:",
            "        c = s.recv(n - len(b))",
            "        assert c, 'ended early'",
            "        b += c",
            "    return bytes(b)",
            "def echo(n, half_close):",
            "    data = os.urandom(n).replace(b'H', b'G')",
            "    s = conn()",
            "    def send():",
            "        s.sendall(data)",
            "        if half_close:",
            "            s.shutdown(socket.SHUT_WR)",
            "    t = threading.Thread(target=send)",
            "    t.start()",
            "    back = exact(s, n)",
            "    t.join()",
            "    if half_close:",
            "        assert s.recv(1) == b'', 'no end after the echo'",
            "    s.close()",
            "    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest(), 'echo differs'",
            "s = conn()",
            "s.sendall(''.join(f'{i}\\n' for i in range(1, 1001)).encode() + b'end\\n')",
            "assert s.makefile('rb').readline() == b'sum 500500\\n'",
            "s.close()",
            "print('ok buffered-reader')",
            "payload = os.urandom(300000)",
            "s = conn()",
            "s.sendall(struct.pack('>iq', len(payload), 42) + payload)",
            "back = exact(s, 40)",
            "assert back[:32] == hashlib.sha256(payload).digest() and struct.unpack('>q', back[32:])[0] == 42 + len(payload)",
            "s.close()",
            "print('ok data-streams')",
            "echo(4 << 20, True)",
            "print('ok direct-buffers')",
            "echo(4 << 20, True)",
            "print('ok transfer-to')",
            "s = conn()",
            "assert s.recv(1) == b'', 'no end of stream after close'",
            "s.close()",
            "print('ok read-ended-by-close')",
            "echo(1 << 20, False)",
            "print('ok handoff-to-target')",
            "s = conn()",
            "assert s.makefile('rb').readline() == b'still here\\n'",
            "assert s.recv(1) == b''",
            "s.close()",
            "print('ok framework-closed')",
            "");

    static final Path ECHO = Lab.REPO.resolve("examples/java/EchoServer.java");
    static final Path STREAM = Lab.REPO.resolve("examples/java/StreamServer.java");

    static Lab lab;
    static String classPath;

    @BeforeAll
    static void up() throws Exception {
        String reason = Lab.skipReason();
        Path jar = Path.of("target", "gecko-" + System.getProperty("gecko.version", "0.1.0") + ".jar").toAbsolutePath();
        if (reason == null && !Files.isRegularFile(jar)) {
            reason = "no JAR at " + jar + ": run `mvn package` first";
        }
        if (reason != null && "1".equals(System.getenv("GECKO_JAVA_LAB_REQUIRED"))) {
            fail("lab tests required (GECKO_JAVA_LAB_REQUIRED) but: " + reason);
        }
        Assumptions.assumeTrue(reason == null, reason);
        // The JAR as a user has it, and this test's policies.
        classPath = jar + ":" + Path.of("target", "test-classes").toAbsolutePath();
        lab = new Lab("gk-java-lab", 3, 2);
    }

    @AfterAll
    static void down() throws Exception {
        if (lab != null) {
            lab.down();
        }
    }

    @AfterEach
    void killServers() throws Exception {
        if (lab != null) {
            lab.killAll();
        }
    }

    static void shortEcho(String client) throws Exception {
        Lab.Result r = lab.exec(client, 120, "python3", MANY_CLIENT, lab.g, "7", "1", "1", "64");
        assertEquals(0, r.exit(), r.out());
    }

    @Test
    void aJavaPolicyThatNamesNode2PlacesEveryConnectionThere() throws Exception {
        lab.startServers(lab.nodes, "one-node", classPath, ECHO.toString(), "--policy", "node=" + lab.address("node2"));
        for (int i = 0; i < 3; i++) {
            for (String client : lab.clients) {
                shortEcho(client);
            }
        }
        assertEquals(List.of(0.0, 6.0, 0.0), lab.byNode("gecko_connections_accepted_total"));
        assertEquals(List.of(0.0, 6.0, 0.0), lab.byNode("gecko_handoffs_total{direction=\"in\"}"));
    }

    @Test
    void aThrowingPolicyStillServesAndLogsTheStackTrace() throws Exception {
        List<Process> procs = lab.startServers(lab.nodes, "throwing", classPath, ECHO.toString(), "--policy",
                Throwing.class.getName());
        for (int i = 0; i < 2; i++) {
            for (String client : lab.clients) {
                shortEcho(client);
            }
        }
        // An `H` asks the policy again mid-stream: the connection stays, echoed whole.
        Lab.Result r = lab.exec("client1", 120, "python3", MID_STREAM_CLIENT, lab.g, "7", "" + (256 << 10),
                "" + (64 << 10));
        assertEquals(0, r.exit(), r.out());
        assertEquals(List.of(5.0, 0.0, 0.0), lab.byNode("gecko_connections_accepted_total"));
        assertEquals(List.of(0.0, 0.0, 0.0), lab.byNode("gecko_handoffs_total{direction=\"out\"}"));
        String log = lab.log("node1-throwing.log");
        assertTrue(log.contains("policy dev.gecko.lab.Throwing: selectTarget threw"), log);
        assertTrue(log.contains("java.lang.IllegalStateException: policy failure on purpose"), log);
        assertTrue(log.contains("at dev.gecko.lab.Throwing.selectTarget"), log);
        for (Process p : procs) {
            assertTrue(p.isAlive(), "a server died");
        }
    }

    @Test
    void midStreamHandoffsKeepTheStreamIntactBothWays() throws Exception {
        lab.startServers(lab.nodes, "mid-stream", classPath, ECHO.toString(), "--policy", "round-robin");
        int total = 2 << 20;
        int every = 128 << 10;
        Lab.Result r = lab.exec("client2", 180, "python3", MID_STREAM_CLIENT, lab.g, "7", "" + total, "" + every);
        assertEquals(0, r.exit(), r.out());
        Map<String, String> lines = new TreeMap<>();
        for (String line : r.out().strip().split("\n")) {
            String[] kv = line.split(" ", 2);
            if (kv.length == 2) {
                lines.put(kv[0], kv[1]);
            }
        }
        assertEquals(lines.get("sent"), lines.get("received").split(" ")[0]);
        assertEquals("" + total / every, lines.get("h_bytes"));
        // A donor counts a handoff once the acceptor's outcome reached it.
        long deadline = System.nanoTime() + 10_000_000_000L;
        double moved;
        double arrived;
        do {
            moved = sum(lab.byNode("gecko_handoffs_total{direction=\"out\"}"));
            arrived = sum(lab.byNode("gecko_handoffs_total{direction=\"in\"}"));
            Thread.sleep(100);
        } while (moved != arrived && System.nanoTime() < deadline);
        assertTrue(moved >= 8, "moved " + moved);
        assertEquals(moved, arrived);
    }

    @Test
    void aCrashedNodesDownloadCompletesThroughTheJavaStreamServer() throws Exception {
        int size = 24 << 20;
        byte[] data = new byte[size];
        new SecureRandom().nextBytes(data);
        Path served = Path.of("/tmp/" + "gk-java-lab-served.bin");
        Path out = Path.of("/tmp/" + "gk-java-lab-download.bin");
        Files.write(served, data);
        Files.deleteIfExists(out);
        try {
            List<Process> procs = lab.startServers(lab.nodes, "stream", classPath, STREAM.toString(), "--file",
                    served.toString(), "--policy", "node=" + lab.address("node2"));
            Process curl = new ProcessBuilder(lab.command("client1", "curl", "-sS", "--fail", "--max-time", "60",
                    "--limit-rate", "8M", "-o", out.toString(), "-w", "%{http_code} %{size_download}",
                    "http://[" + lab.g + "]:8080/")).redirectErrorStream(true).start();
            Thread.sleep(1200);
            assertTrue(curl.isAlive(), "the download ended before the crash");
            long got = Files.exists(out) ? Files.size(out) : 0;
            assertTrue(got > 0 && got < size, "downloaded " + got);
            lab.kill(procs.get(lab.nodes.indexOf("node2"))); // SIGKILL node2's server
            assertTrue(curl.waitFor(90, java.util.concurrent.TimeUnit.SECONDS));
            String status = new String(curl.getInputStream().readAllBytes()).strip();
            assertEquals(0, curl.exitValue(), status);
            assertEquals("200 " + size, status);
            assertEquals(sha256(data), sha256(Files.readAllBytes(out)));
            double recovered = 0;
            for (String n : lab.nodes) {
                if (!n.equals("node2")) {
                    recovered += lab.byNode("gecko_recoveries_total").get(lab.nodes.indexOf(n));
                }
            }
            assertTrue(recovered >= 1, "recoveries " + recovered);
            assertTrue(lab.log("node3-stream.log").contains("resuming the response at"));
        } finally {
            Files.deleteIfExists(served);
            Files.deleteIfExists(out);
        }
    }

    @Test
    void theJavaApiInANodeAcceptsStreamsHandsOffAndCloses() throws Exception {
        lab.startServers(List.of("node2"), "target", classPath, ECHO.toString(), "--policy", "random");
        List<Process> checks = lab.startServers(List.of("node1"), "checks", classPath,
                NodeChecks.class.getName(), lab.address("node2"));
        Lab.Result r = lab.exec("client1", 180, "python3", "-c", CHECKS_CLIENT, lab.g);
        Process p = checks.get(0);
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "NodeChecks did not end");
        String log = lab.log("node1-checks.log");
        assertEquals(0, r.exit(), r.out() + "\n" + log);
        assertEquals(0, p.exitValue(), log);
        for (String name : List.of("accept-timeout", "accept-interrupted", "accept-closed", "buffered-reader",
                "data-streams", "direct-buffers", "transfer-to", "read-ended-by-close", "handoff-to-target",
                "framework-closed")) {
            assertTrue(log.contains("ok " + name + "\n"), name + ": " + log);
        }
        assertTrue(log.contains("live 0\n"), log);
        assertEquals(1.0, lab.byNode("gecko_handoffs_total{direction=\"in\"}").get(1));
    }

    @Test
    void twentyThreadsServeTenThousandConnectionsAndLeaveNoNativeHandle() throws Exception {
        int total = 10_000;
        List<Process> server = lab.startServers(List.of("node1"), "threads", classPath,
                ThreadedEcho.class.getName(), "20", "" + total);
        // Both clients at once, 20 connections in flight each; every echo checked by SHA-256.
        List<Process> clients = new java.util.ArrayList<>();
        for (String client : lab.clients) {
            clients.add(lab.spawn(client, client + "-threads.log", "python3", MANY_CLIENT, lab.g, "7",
                    "" + total / lab.clients.size(), "20", "256"));
        }
        for (int i = 0; i < clients.size(); i++) {
            Process c = clients.get(i);
            assertTrue(c.waitFor(600, java.util.concurrent.TimeUnit.SECONDS), "a client hung");
            assertEquals(0, c.exitValue(), lab.log(lab.clients.get(i) + "-threads.log"));
        }
        Process p = server.get(0);
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "ThreadedEcho did not end");
        String log = lab.log("node1-threads.log");
        assertEquals(0, p.exitValue(), log);
        assertTrue(log.contains("served " + total + " errors 0 accepts-ended-by-close 20 "), log);
        assertTrue(log.contains(" live 0\n"), log);
    }

    static double sum(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).sum();
    }

    static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }
}
