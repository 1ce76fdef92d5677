package dev.gecko;

import java.net.Inet6Address;

/**
 * Any available node, uniformly at random (the seed's policy). A shipped policy: it decides in the native library, with no Java call per connection, unless a
 * subclass overrides its methods. Thread-safe.
 */
public class RandomPolicy extends GeckoPolicy {
    /** A new instance, with its own state. */
    public RandomPolicy() {
        super("random");
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
