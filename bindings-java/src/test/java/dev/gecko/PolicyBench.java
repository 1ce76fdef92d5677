package dev.gecko;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The Java binding's policy benchmark (issue 17): what one policy call costs as the core makes it,
 * from a native thread of its own attached to the JVM, through the bridge's adapter
 * ({@link GeckoPolicy#callFromCore}, so {@code Native.policyCallFromCore}). A policy written in Java
 * (the {@code ClientInfo} of 3 nodes built in Java, one call up) beside the shipped round-robin, which
 * decides in Rust with no JNI call. Run by {@code bindings-java/bench.sh}; no root needed.
 *
 * <pre>
 * java -cp target/gecko-0.1.0.jar:target/test-classes dev.gecko.PolicyBench [CALLS [ROUNDS]]
 * </pre>
 *
 * <p>Prints µs per call, the median over the rounds (default 7 rounds of 200,000 calls, ten times
 * as many for the shipped policy, after a warm-up that lets the JIT compile the Java side), and the
 * ratio Java / Rust.
 */
public final class PolicyBench {
    private PolicyBench() {}

    /** A trivial policy written in Java: the first available node. */
    static final class FirstAvailable extends GeckoPolicy {
        @Override
        public Inet6Address selectTarget(ClientInfo client) {
            List<NodeInfo> nodes = client.available();
            return nodes.isEmpty() ? null : nodes.get(0).address();
        }
    }

    static Inet6Address v6(String literal) throws UnknownHostException {
        return (Inet6Address) InetAddress.getByName(literal);
    }

    /** A client on the first of 3 available nodes with connections and RTTs, as a policy sees one. */
    static ClientInfo client() throws UnknownHostException {
        List<NodeInfo> nodes = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            nodes.add(new NodeInfo(v6("2001:db8:1:" + i + "::2"), i, Duration.ofNanos(200_000L * i), true));
        }
        return new ClientInfo(v6("2001:db8:2:1::2"), 40000, nodes.get(0).address(), nodes);
    }

    /** Nanoseconds per call over each round of {@code calls} calls. */
    static double[] rounds(GeckoPolicy policy, ClientInfo client, int calls, int rounds) {
        long[] nanos = new long[1];
        // Warm-up: the JIT compiles selectForNative, ClientInfo.fromNative and the policy.
        for (int i = 0; i < 5; i++) {
            policy.callFromCore(client, calls, nanos);
        }
        double[] perCall = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            // Our own clock around the batch: policyCallFromCore reports whole nanoseconds per call, too
            // coarse for the shipped policy. The batch's one thread start is shared by all its calls.
            long start = System.nanoTime();
            Inet6Address chosen = policy.callFromCore(client, calls, nanos);
            perCall[r] = (double) (System.nanoTime() - start) / calls;
            if (chosen == null) {
                throw new IllegalStateException(policy.getClass().getName() + " chose no node");
            }
        }
        return perCall;
    }

    static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /**
     * Measures both policies and prints their cost.
     *
     * @param args optional: calls per round (200000), rounds (7)
     * @throws Exception if a policy cannot be made or called
     */
    public static void main(String[] args) throws Exception {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 7;
        ClientInfo client = client();
        GeckoPolicy java = new FirstAvailable();
        GeckoPolicy rust = new RoundRobinPolicy();
        if (java.decidesNatively() || !rust.decidesNatively()) {
            throw new IllegalStateException("the Java policy must be called in Java, the shipped one natively");
        }
        double[] j = rounds(java, client, calls, rounds);
        // Ten times as many native calls: each is about a hundredth of a Java one, and the batch's thread start
        // must stay a negligible part of the round.
        double[] r = rounds(rust, client, calls * 10, rounds);
        double jm = median(j) / 1000;
        double rm = median(r) / 1000;
        System.out.printf("policy call as the core makes it (from its own thread, a ClientInfo of 3 nodes),"
                + " median of %d rounds of %d calls (shipped: %d):%n", rounds, calls, calls * 10);
        System.out.printf("  Java policy (GeckoPolicy subclass, first available): %8.3f us  %s%n", jm, us(j));
        System.out.printf("  shipped RoundRobinPolicy (decides in Rust, no JNI):  %8.3f us  %s%n", rm, us(r));
        System.out.printf("  ratio Java / Rust %.0f%n", jm / rm);
    }

    /** The rounds in µs, for the record. */
    private static String us(double[] nanos) {
        StringBuilder s = new StringBuilder("[");
        for (double n : nanos) {
            s.append(s.length() > 1 ? ", " : "").append(String.format("%.3f", n / 1000));
        }
        return s.append("]").toString();
    }
}
