package dev.gecko;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.ref.Reference;
import java.net.Inet6Address;
import java.util.List;
import java.util.Objects;
import java.util.function.LongFunction;

/**
 * Decides which node serves a connection: when a connection arrives (the framework asks where to
 * place it) and when {@link GeckoSocket#handoff()} asks where to move it. Extend it and override
 * {@link #selectTarget}; or use a shipped policy ({@link RandomPolicy}, {@link RoundRobinPolicy},
 * {@link LeastConnectionsPolicy}, {@link ProximityPolicy}, or {@link #byName}), which decide in the
 * native library with no Java call per connection unless a subclass overrides their methods.
 *
 * <p>The framework calls a policy from its own threads (daemon threads named {@code gecko-...}),
 * possibly several at once: a policy must be thread-safe. An exception thrown by a policy is logged
 * with its stack trace and counts as {@code null}: the connection stays where it is.
 */
public abstract class GeckoPolicy {
    /** A policy written in Java (or a shipped one). */
    protected GeckoPolicy() {}

    /**
     * The node that should serve {@code client}'s connection.
     *
     * @param client the connection and every node's state
     * @return one of {@code client.nodes()}' addresses, or {@code null} (or this node's address) to
     *     keep the connection on this node
     */
    public abstract Inet6Address selectTarget(ClientInfo client);

    /**
     * A handoff toward {@code target} failed; the connection stayed where it was. Does nothing unless
     * overridden.
     *
     * @param target the node that did not take the connection
     */
    public void notifyFailedHandoff(Inet6Address target) {}

    /**
     * A new instance of the shipped policy called {@code name}, as the other languages name them.
     *
     * @param name one of {@link #names()}: {@code random}, {@code round-robin},
     *     {@code least-connections}, {@code proximity}
     * @return the policy
     * @throws IllegalArgumentException if no shipped policy has that name (the message lists them)
     * @throws NullPointerException if {@code name} is null
     */
    public static GeckoPolicy byName(String name) {
        Objects.requireNonNull(name, "name");
        switch (name) {
            case "random":
                return new RandomPolicy();
            case "round-robin":
                return new RoundRobinPolicy();
            case "least-connections":
                return new LeastConnectionsPolicy();
            case "proximity":
                return new ProximityPolicy();
            default:
                // The native library's one list decides, and words the error.
                Native.free(Native.policyShipped(name));
                throw new IllegalArgumentException("unknown policy `" + name + "`");
        }
    }

    /**
     * The shipped policies' names, in the order the library lists them.
     *
     * @return an unmodifiable list
     */
    public static List<String> names() {
        return List.of(Native.policyNames().split("\n"));
    }

    /** True for a shipped policy whose methods no subclass overrides: it decides natively. */
    final boolean decidesNatively() {
        return this instanceof ShippedPolicy shipped && shipped.notOverridden();
    }

    /**
     * Runs {@code use} with this policy as the core calls it: a shipped one's own native half, or
     * this Java object behind the native adapter (an id freed afterwards).
     */
    final <T> T withCore(LongFunction<T> use) {
        if (decidesNatively()) {
            try {
                return use.apply(((ShippedPolicy) this).nativeId());
            } finally {
                Reference.reachabilityFence(this);
            }
        }
        long id = Native.policyJava(this, getClass().getName());
        try {
            return use.apply(id);
        } finally {
            Native.free(id);
        }
    }

    /**
     * Asks this policy {@code calls} times from a native thread, exactly as the framework does.
     * For tests and benchmarks.
     *
     * @param nanos if not null, its first element gets the nanoseconds per call
     */
    final Inet6Address callFromCore(ClientInfo client, int calls, long[] nanos) {
        byte[] packed = client.toNative();
        byte[] chosen = withCore(id -> Native.policyCallFromCore(id, packed, calls, nanos));
        return chosen == null ? null : Inet.of(chosen);
    }

    /** Called by the native library (from the core's threads): {@link #selectTarget} on arrays. */
    final byte[] selectForNative(byte[] client) {
        Inet6Address chosen = selectTarget(ClientInfo.fromNative(client));
        return chosen == null ? null : chosen.getAddress();
    }

    /** Called by the native library: {@link #notifyFailedHandoff}. */
    final void notifyForNative(byte[] target) {
        notifyFailedHandoff(Inet.of(target));
    }

    /** Called by the native library: a throwable's stack trace for the log. */
    final String describeFailure(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString();
    }
}
