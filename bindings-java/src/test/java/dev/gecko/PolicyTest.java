package dev.gecko;

import static dev.gecko.Support.N1;
import static dev.gecko.Support.N2;
import static dev.gecko.Support.N3;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet6Address;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Policies without root: the shipped ones decide natively; a Java one is called through the adapter. */
class PolicyTest {
    private static final boolean[] ALL = {true, true, true};
    private static final int[] IDLE = {0, 0, 0};
    private static final Long[] NO_RTT = {null, null, null};

    @Test
    void namesAndByNameMatchTheLibrary() {
        assertEquals(List.of("random", "round-robin", "least-connections", "proximity"), GeckoPolicy.names());
        assertInstanceOf(RandomPolicy.class, GeckoPolicy.byName("random"));
        assertInstanceOf(RoundRobinPolicy.class, GeckoPolicy.byName("round-robin"));
        assertInstanceOf(LeastConnectionsPolicy.class, GeckoPolicy.byName("least-connections"));
        assertInstanceOf(ProximityPolicy.class, GeckoPolicy.byName("proximity"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GeckoPolicy.byName("nearest"));
        assertTrue(e.getMessage().startsWith("unknown policy `nearest` (known: random, "), e.getMessage());
        assertThrows(NullPointerException.class, () -> GeckoPolicy.byName(null));
    }

    @Test
    void clientInfoIsImmutableAndTyped() {
        ClientInfo c = Support.three(new boolean[] {true, true, false}, new int[] {5, 2, 1},
                new Long[] {2000L, null, 1000L});
        assertEquals(Support.CLIENT, c.address());
        assertEquals(40000, c.port());
        assertEquals(N1, c.local());
        assertEquals(List.of(N1, N2, N3), c.nodes().stream().map(NodeInfo::address).toList());
        assertEquals(Duration.ofMillis(2), c.nodes().get(0).rtt().orElseThrow());
        assertTrue(c.nodes().get(1).rtt().isEmpty());
        assertEquals(List.of(N1, N2), c.available().stream().map(NodeInfo::address).toList());
        assertThrows(UnsupportedOperationException.class, () -> c.nodes().clear());
    }

    @Test
    void aClientCrossesToTheNativeLibraryWhole() {
        ClientInfo c = Support.three(new boolean[] {true, false, true}, new int[] {5, 0, Integer.MAX_VALUE},
                new Long[] {1500L, null, 0L});
        assertEquals(c.toString(), ClientInfo.fromNative(c.toNative()).toString());
        assertThrows(IllegalArgumentException.class, () -> ClientInfo.fromNative(new byte[35]));
    }

    @Test
    void shippedPoliciesDecideNatively() {
        RoundRobinPolicy rr = new RoundRobinPolicy();
        assertTrue(rr.decidesNatively());
        ClientInfo c = Support.three();
        assertEquals(List.of(N1, N2, N3, N1), List.of(rr.selectTarget(c), rr.selectTarget(c), rr.selectTarget(c),
                rr.selectTarget(c)));
        assertEquals(N2, new LeastConnectionsPolicy().selectTarget(Support.three(ALL, new int[] {5, 2, 3}, NO_RTT)));
        assertEquals(N3, new ProximityPolicy().selectTarget(Support.three(ALL, IDLE, new Long[] {9000L, null, 1000L})));
        Set<Inet6Address> seen = new HashSet<>();
        RandomPolicy random = new RandomPolicy();
        for (int i = 0; i < 100; i++) {
            seen.add(random.selectTarget(Support.three(new boolean[] {true, false, true}, IDLE, NO_RTT)));
        }
        assertEquals(Set.of(N1, N3), seen);
        assertNull(random.selectTarget(new ClientInfo(Support.CLIENT, 1, N1,
                List.of(new NodeInfo(N1, 0, null, false)))));
        random.notifyFailedHandoff(N2);
        // From a native thread, as the framework asks it.
        assertEquals(N2, new ProximityPolicy().callFromCore(
                Support.three(ALL, IDLE, new Long[] {9000L, 2000L, null}), 1, null));
    }

    /** A Java policy that answers with {@code how} and counts its calls and callers. */
    static final class Pick extends GeckoPolicy {
        final Function<ClientInfo, Inet6Address> how;
        final AtomicInteger calls = new AtomicInteger();
        volatile Thread caller;

        Pick(Function<ClientInfo, Inet6Address> how) {
            this.how = how;
        }

        @Override
        public Inet6Address selectTarget(ClientInfo client) {
            calls.incrementAndGet();
            caller = Thread.currentThread();
            return how.apply(client);
        }
    }

    @Test
    void aJavaPolicyIsCalledThroughTheAdapterFromADaemonThreadOfGecko() {
        Pick p = new Pick(c -> c.nodes().get(2).address());
        assertFalse(p.decidesNatively());
        long[] nanos = new long[1];
        assertEquals(N3, p.callFromCore(Support.three(), 10, nanos));
        assertEquals(10, p.calls.get());
        assertTrue(nanos[0] > 0);
        assertTrue(p.caller.getName().startsWith("gecko-"), p.caller.getName());
        assertTrue(p.caller.isDaemon());
        assertTrue(p.caller != Thread.currentThread());
        assertNull(new Pick(c -> null).callFromCore(Support.three(), 1, null));
        // A subclass of a shipped policy that overrides nothing keeps deciding natively.
        RoundRobinPolicy mine = new RoundRobinPolicy() {};
        assertTrue(mine.decidesNatively());
        assertEquals(N1, mine.callFromCore(Support.three(), 4, null)); // N1, N2, N3, N1
        // One that overrides is asked in Java.
        RoundRobinPolicy always2 = new RoundRobinPolicy() {
            @Override
            public Inet6Address selectTarget(ClientInfo client) {
                return N2;
            }
        };
        assertFalse(always2.decidesNatively());
        assertEquals(N2, always2.callFromCore(Support.three(), 3, null));
    }

    @Test
    void aPolicyInAContainersClassLoaderWorksFromTheCoresThreads(@TempDir Path dir) throws Exception {
        // As in an application server: the JAR's classes and the application's come from a class
        // loader the JVM's own cannot see into, and the core's attached threads must still reach them.
        Path src = Files.createDirectories(dir.resolve("src"));
        Files.writeString(src.resolve("Third.java"), String.join("\n",
                "package plugin;",
                "public final class Third extends dev.gecko.GeckoPolicy {",
                "    @Override public java.net.Inet6Address selectTarget(dev.gecko.ClientInfo c) {",
                "        return new Picker().pick(c);",
                "    }",
                "}",
                "final class Picker {",
                "    java.net.Inet6Address pick(dev.gecko.ClientInfo c) { return c.nodes().get(2).address(); }",
                "}"));
        // In the JAR's package, to reach GeckoPolicy.callFromCore (package-private) in the same loader.
        Files.writeString(src.resolve("ContainerRun.java"), String.join("\n",
                "package dev.gecko;",
                "public final class ContainerRun {",
                "    public static String run(GeckoPolicy p) throws Exception {",
                "        java.net.Inet6Address[] a = {",
                "            (java.net.Inet6Address) java.net.InetAddress.getByName(\"2001:db8:1:1::2\"),",
                "            (java.net.Inet6Address) java.net.InetAddress.getByName(\"2001:db8:1:2::2\"),",
                "            (java.net.Inet6Address) java.net.InetAddress.getByName(\"2001:db8:1:3::2\")};",
                "        java.util.List<NodeInfo> nodes = new java.util.ArrayList<>();",
                "        for (java.net.Inet6Address x : a) nodes.add(new NodeInfo(x, 0, null, true));",
                "        ClientInfo c = new ClientInfo(a[0], 40000, a[0], nodes);",
                "        return p.callFromCore(c, 5, null).getHostAddress() + \" \" + p.getClass().getClassLoader().getName();",
                "    }",
                "}"));
        Path api = Path.of(GeckoPolicy.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path classes = Files.createDirectories(dir.resolve("classes"));
        int rc = javax.tools.ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(),
                "-cp", api.toString(), src.resolve("Third.java").toString(), src.resolve("ContainerRun.java").toString());
        assertEquals(0, rc);
        // The new JVM's class path has this test's classes only: not the API's.
        Path tests = Path.of(ContainerProbe.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Support.Run r = Support.java(tests.toString(), List.of(), ContainerProbe.class, api.toString(),
                classes.toString());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertEquals("2001:db8:1:3:0:0:0:2 container", r.stdout().strip());
    }

    @Test
    void aThrowingPolicyCountsAsNullAndItsStackTraceIsLogged() throws Exception {
        Support.Run r = Support.java(List.of(), PolicyLogProbe.class);
        assertEquals(0, r.exit(), r.stderr());
        assertEquals("null null", r.stdout().strip());
        String log = r.stderr();
        assertTrue(log.contains("policy dev.gecko.PolicyLogProbe$Boom: selectTarget threw; keeping the connection "
                + "on this node"), log);
        assertTrue(log.contains("java.lang.IllegalStateException: no such node, on purpose"), log);
        assertTrue(log.contains("at dev.gecko.PolicyLogProbe$Boom.helper"), log);
        assertEquals(4, log.split("selectTarget threw", -1).length - 1, log);
    }
}
