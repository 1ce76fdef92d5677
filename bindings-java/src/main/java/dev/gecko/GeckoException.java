package dev.gecko;

/**
 * Base class of Gecko's own failures. Operating-system failures are the {@code java.net} and
 * {@code java.io} exceptions ({@code SocketException}, {@code SocketTimeoutException}...), misuse is
 * {@code IllegalArgumentException}, {@code IllegalStateException} or {@code NullPointerException}.
 */
public class GeckoException extends java.io.IOException {
    private static final long serialVersionUID = 1L;

    /**
     * An exception with {@code message}.
     *
     * @param message what went wrong (the native library's message)
     */
    public GeckoException(String message) {
        super(message);
    }
}
