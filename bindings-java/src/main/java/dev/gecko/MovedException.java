package dev.gecko;

/**
 * The connection is served by another node now: this socket can no longer read or write it.
 */
public class MovedException extends GeckoException {
    private static final long serialVersionUID = 1L;

    /**
     * An exception with {@code message}.
     *
     * @param message what went wrong (the native library's message)
     */
    public MovedException(String message) {
        super(message);
    }
}
