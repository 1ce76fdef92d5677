package dev.gecko;

import java.lang.ref.Reference;
import java.lang.reflect.Method;
import java.net.Inet6Address;
import java.util.Objects;

/**
 * What the shipped policies share: a native half that decides in the library, with no Java call per
 * connection unless a subclass overrides {@link #selectTarget} or {@link #notifyFailedHandoff}.
 */
abstract class ShippedPolicy extends GeckoPolicy {
    /** The native half. */
    private final long shipped;

    /** The shipped policy called {@code name}. */
    ShippedPolicy(String name) {
        long id = Native.policyShipped(name);
        this.shipped = id;
        Native.CLEANER.register(this, () -> Native.free(id));
    }

    /**
     * {@inheritDoc}
     *
     * <p>Decided natively.
     */
    @Override
    public Inet6Address selectTarget(ClientInfo client) {
        Objects.requireNonNull(client, "client");
        byte[] packed = client.toNative();
        try {
            byte[] chosen = Native.policySelect(shipped, packed);
            return chosen == null ? null : Inet.of(chosen);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Told natively.
     */
    @Override
    public void notifyFailedHandoff(Inet6Address target) {
        Objects.requireNonNull(target, "target");
        try {
            Native.policyNotify(shipped, target.getAddress());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The native half, while this object is reachable. */
    final long nativeId() {
        return shipped;
    }

    /** True unless a subclass overrides a method: then the core must call Java. */
    final boolean notOverridden() {
        try {
            Class<?> c = getClass();
            return ours(c.getMethod("selectTarget", ClientInfo.class))
                    && ours(c.getMethod("notifyFailedHandoff", Inet6Address.class));
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    /**
     * This class's method, or the bridge javac gives a public subclass to reach it (this class is not
     * public): not a subclass's override.
     */
    private static boolean ours(Method m) {
        return m.getDeclaringClass() == ShippedPolicy.class || m.isBridge();
    }
}
