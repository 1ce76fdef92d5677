package dev.gecko;

/**
 * The available nodes in turn. A shipped policy: it decides in the native library, with no Java call per connection, unless a
 * subclass overrides its methods. Thread-safe.
 */
public class RoundRobinPolicy extends ShippedPolicy {
    /** A new instance, with its own state. */
    public RoundRobinPolicy() {
        super("round-robin");
    }
}
