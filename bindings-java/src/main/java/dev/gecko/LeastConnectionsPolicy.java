package dev.gecko;

/**
 * The available node serving the fewest connections (ties: the first in configuration order). A shipped policy: it decides in the native library, with no Java call per connection, unless a
 * subclass overrides its methods. Thread-safe.
 */
public class LeastConnectionsPolicy extends ShippedPolicy {
    /** A new instance, with its own state. */
    public LeastConnectionsPolicy() {
        super("least-connections");
    }
}
