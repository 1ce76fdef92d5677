package dev.gecko;

/**
 * This framework has a server socket on that port already.
 */
public class PortInUseException extends GeckoException {
    private static final long serialVersionUID = 1L;

    /**
     * An exception with {@code message}.
     *
     * @param message what went wrong (the native library's message)
     */
    public PortInUseException(String message) {
        super(message);
    }
}
