package dev.gecko;

/**
 * The node could not start or signal (home registration, network interface, membership).
 */
public class NodeException extends GeckoException {
    private static final long serialVersionUID = 1L;

    /**
     * An exception with {@code message}.
     *
     * @param message what went wrong (the native library's message)
     */
    public NodeException(String message) {
        super(message);
    }
}
