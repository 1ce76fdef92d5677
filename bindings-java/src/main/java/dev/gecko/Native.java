package dev.gecko;

import java.io.IOException;
import java.io.InputStream;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * The native library's entry points (the Rust crate {@code gecko-java}) and
 * how it is loaded. Native objects are named by ids, never by pointers: a
 * call with a closed or freed id throws, it cannot touch freed memory.
 */
final class Native {
    /** The system property naming a native library file to load instead of the bundled one. */
    static final String LIBRARY_PATH_PROPERTY = "gecko.library.path";

    /** Frees the native objects of handles a program forgot to close. */
    static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "gecko-cleaner");
        t.setDaemon(true);
        return t;
    });

    static {
        load();
    }

    private Native() {}

    /** The platform's name in resource paths: {@code linux-x86_64}, {@code linux-aarch64}... */
    static String platform(String osName, String osArch) {
        String os = osName.toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        } else if (os.startsWith("mac") || os.startsWith("darwin")) {
            os = "macos";
        } else if (os.startsWith("windows")) {
            os = "windows";
        } else {
            os = os.replaceAll("[^a-z0-9]+", "");
        }
        String arch = osArch.toLowerCase(Locale.ROOT);
        switch (arch) {
            case "amd64":
            case "x86_64":
                arch = "x86_64";
                break;
            case "aarch64":
            case "arm64":
                arch = "aarch64";
                break;
            default:
                arch = arch.replaceAll("[^a-z0-9_]+", "");
        }
        return os + "-" + arch;
    }

    /** Where the JAR keeps the library for {@code platform}. */
    static String resourceFor(String platform) {
        return "/native/" + platform + "/" + System.mapLibraryName("gecko_java");
    }

    /** The error for a platform the JAR has no library for. */
    static UnsatisfiedLinkError unsupported(String platform) {
        return new UnsatisfiedLinkError("Gecko has no native library for the platform " + platform
                + " in this JAR (no resource " + resourceFor(platform) + "); build the crate gecko-java"
                + " for it and name the file with -D" + LIBRARY_PATH_PROPERTY + "=/path/to/"
                + System.mapLibraryName("gecko_java"));
    }

    /**
     * Loads the file named by {@value #LIBRARY_PATH_PROPERTY}, else the JAR's library for this
     * platform, copied to one temporary file for this process (removed once loaded, or at exit).
     */
    private static void load() {
        String path = System.getProperty(LIBRARY_PATH_PROPERTY);
        if (path != null && !path.isEmpty()) {
            System.load(Path.of(path).toAbsolutePath().toString());
            return;
        }
        String platform = platform(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
        try (InputStream in = Native.class.getResourceAsStream(resourceFor(platform))) {
            if (in == null) {
                throw unsupported(platform);
            }
            Path tmp = Files.createTempFile("gecko_java-", "-" + System.mapLibraryName("gecko"));
            tmp.toFile().deleteOnExit();
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                System.load(tmp.toString());
            } finally {
                // Once loaded, the mapping outlives the file on Linux and macOS: nothing is
                // left behind even if the process is killed. Elsewhere deleteOnExit does it.
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // Still loaded; deleteOnExit tries again.
                }
            }
        } catch (IOException e) {
            UnsatisfiedLinkError err =
                    new UnsatisfiedLinkError("cannot extract Gecko's native library: " + e.getMessage());
            err.initCause(e);
            throw err;
        }
    }

    // Every handle.
    static native void free(long id);

    static native long liveHandles();

    static native void initLogging(Log log, String filter);

    // GeckoFramework.
    static native long frameworkNew(byte[] local, String config, String networkInterface) throws IOException;

    static native byte[] frameworkLocalAddress(long fw);

    static native byte[] frameworkGlobalAddress(long fw);

    static native int frameworkServicePort(long fw);

    static native void frameworkSetPolicy(long fw, long policy);

    static native void frameworkSetSplitHandoff(long fw, boolean split);

    static native long frameworkServerSocket(long fw, int port) throws IOException;

    static native void frameworkJoin(long fw) throws IOException;

    static native void frameworkLeave(long fw) throws IOException;

    static native void frameworkClose(long fw);

    // GeckoServerSocket.
    static native int serverPort(long s) throws IOException;

    static native void serverSetTimeout(long s, int millis) throws IOException;

    static native long serverAccept(long s) throws IOException;

    static native void serverClose(long s);

    // GeckoSocket.
    static native int socketRead(long s, byte[] b, int off, int len) throws IOException;

    static native int socketWrite(long s, byte[] b, int off, int len) throws IOException;

    static native int socketReadDirect(long s, ByteBuffer b, int pos, int len) throws IOException;

    static native int socketWriteDirect(long s, ByteBuffer b, int pos, int len) throws IOException;

    static native void socketSetTimeout(long s, int millis, boolean blocking) throws IOException;

    static native boolean socketHandoff(long s, byte[] target, boolean nonblocking) throws IOException;

    static native long[] socketPosition(long s) throws IOException;

    static native long[] socketRecovered(long s) throws IOException;

    static native boolean socketHandedIn(long s) throws IOException;

    static native boolean socketMoved(long s) throws IOException;

    static native byte[] socketPeer(long s) throws IOException;

    static native byte[] socketLocal(long s) throws IOException;

    static native void socketClose(long s);

    static native void socketReset(long s) throws IOException;

    // GeckoPolicy.
    static native long policyShipped(String name);

    static native String policyNames();

    static native byte[] policySelect(long p, byte[] client);

    static native void policyNotify(long p, byte[] target);

    static native long policyJava(GeckoPolicy policy, String name);

    static native byte[] policyCallFromCore(long p, byte[] client, int calls, long[] nanos);
}
