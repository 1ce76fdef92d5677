package dev.gecko;

/**
 * Any available node, uniformly at random (the seed's policy). A shipped policy: it decides in the native library, with no Java call per connection, unless a
 * subclass overrides its methods. Thread-safe.
 */
public class RandomPolicy extends ShippedPolicy {
    /** A new instance, with its own state. */
    public RandomPolicy() {
        super("random");
    }
}
