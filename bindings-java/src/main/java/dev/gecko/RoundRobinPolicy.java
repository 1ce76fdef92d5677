package dev.gecko;

import java.net.Inet6Address;

/**
 * The available nodes in turn. A shipped policy: it decides in the native library, with no Java call per connection, unless a
 * subclass overrides its methods. Thread-safe.
 */
public class RoundRobinPolicy extends GeckoPolicy {
    /** A new instance, with its own state. */
    public RoundRobinPolicy() {
        super("round-robin");
    }

    /**
     * {@inheritDoc}
     *
     * <p>Decided natively.
     */
    @Override
    public Inet6Address selectTarget(ClientInfo client) {
        return shippedSelect(client);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Told natively.
     */
    @Override
    public void notifyFailedHandoff(Inet6Address target) {
        shippedNotify(target);
    }
}
