package dev.gecko;

/**
 * The configuration file is bad (the message names the file, the line and the field), or the
 * local address is not one of its nodes.
 */
public class ConfigException extends GeckoException {
    private static final long serialVersionUID = 1L;

    /**
     * An exception with {@code message}.
     *
     * @param message what went wrong (the native library's message)
     */
    public ConfigException(String message) {
        super(message);
    }
}
