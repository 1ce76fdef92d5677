package dev.gecko;

import java.net.Inet6Address;

/**
 * The available node serving the fewest connections (ties: the first in configuration order). A shipped policy: it decides in the native library, with no Java call per connection, unless a
 * subclass overrides its methods. Thread-safe.
 */
public class LeastConnectionsPolicy extends GeckoPolicy {
    /** A new instance, with its own state. */
    public LeastConnectionsPolicy() {
        super("least-connections");
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
