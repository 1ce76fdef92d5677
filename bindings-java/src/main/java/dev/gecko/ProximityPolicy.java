package dev.gecko;

/**
 * The available node with the lowest measured round-trip time to the client; nodes that have not
 * measured it count as farther than any that have, and among those the least loaded wins. A shipped policy: it decides in the native library, with no Java call per connection, unless a
 * subclass overrides its methods. Thread-safe.
 */
public class ProximityPolicy extends ShippedPolicy {
    /** A new instance, with its own state. */
    public ProximityPolicy() {
        super("proximity");
    }
}
