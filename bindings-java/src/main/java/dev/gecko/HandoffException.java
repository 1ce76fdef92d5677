package dev.gecko;

/**
 * A handoff failed or could not start (also: one of this connection is running already); the
 * connection stays on this node.
 */
public class HandoffException extends GeckoException {
    private static final long serialVersionUID = 1L;

    /**
     * An exception with {@code message}.
     *
     * @param message what went wrong (the native library's message)
     */
    public HandoffException(String message) {
        super(message);
    }
}
