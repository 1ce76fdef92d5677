package dev.gecko;

/**
 * Where the native library's log lines go: the {@link System.Logger} named {@code dev.gecko}, so they
 * land in whatever logging the application uses (JUL by default, SLF4J or Log4j through their bridges).
 * {@code RUST_LOG}-style filtering applies first, natively (default {@code info}).
 */
final class Log {
    /** The logger every native line goes to. */
    static final System.Logger LOGGER = System.getLogger("dev.gecko");

    /** Called by the native library: one line at {@code level} (0 trace ... 4 error). */
    void log(int level, String target, String message) {
        System.Logger.Level l;
        switch (level) {
            case 4:
                l = System.Logger.Level.ERROR;
                break;
            case 3:
                l = System.Logger.Level.WARNING;
                break;
            case 2:
                l = System.Logger.Level.INFO;
                break;
            case 1:
                l = System.Logger.Level.DEBUG;
                break;
            default:
                l = System.Logger.Level.TRACE;
        }
        if (LOGGER.isLoggable(l)) {
            LOGGER.log(l, target + ": " + message);
        }
    }
}
