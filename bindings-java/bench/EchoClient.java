import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.SplittableRandom;

/**
 * The client of the Java binding's echo benchmark: one connection, one writer thread sending random
 * bytes (never an {@code H}, so EchoServer.java never hands off), the main thread reading the echo.
 * Prints one line, {@code echo bytes=N seconds=S mbps=X sha256=ok}, where {@code mbps} is megabytes
 * (10^6) echoed per second, from the first write to the last byte of the echo. Exits 1 if the echo differs
 * from what was sent (SHA-256 of both).
 *
 * <pre>
 * gecko-lab exec --name L client1 -- java bindings-java/bench/EchoClient.java --host G --port 7
 * </pre>
 *
 * <p>Flags: {@code --host} (required), {@code --port} (7), {@code --bytes} (256 MiB), {@code --seed}
 * (1). The bytes are made and hashed before the clock starts and the echo is hashed after it stops, so
 * the client's own work during the measurement is the socket calls only. It ends its side only once the
 * whole echo is in: a plain server at G on a Gecko node gets no FIN out (the node fence), and a FIN riding
 * on its last data would take that data with it.
 */
public final class EchoClient {
    private EchoClient() {}

    /** Bytes per write and at most per read. */
    static final int CHUNK = 1 << 20;

    /** {@code n} random bytes from {@code seed}, every {@code H} made a {@code G}. */
    static byte[] payload(int n, long seed) {
        byte[] data = new byte[n];
        new SplittableRandom(seed).nextBytes(data);
        for (int i = 0; i < n; i++) {
            if (data[i] == 'H') {
                data[i] = 'G';
            }
        }
        return data;
    }

    /** The SHA-256 of {@code data[0..len)}, in hex. */
    static String sha256(byte[] data, int len) throws NoSuchAlgorithmException {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(data, 0, len);
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * Echoes once and prints the line.
     *
     * @param args the flags
     * @throws Exception if the connection fails (a different echo exits 1)
     */
    public static void main(String[] args) throws Exception {
        String host = null;
        int port = 7;
        long bytes = 256L << 20;
        long seed = 1;
        for (int i = 0; i < args.length; i++) {
            if (i + 1 == args.length) {
                usage("missing value: " + args[i]);
            }
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--bytes" -> bytes = Long.parseLong(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                default -> usage("unknown flag: " + args[i]);
            }
        }
        // Both sides are kept whole in memory (hashed outside the measurement): one array each.
        if (host == null || bytes < 1 || bytes > Integer.MAX_VALUE - 16) {
            usage("--host is needed and --bytes must be 1 to 2^31 - 17");
        }
        int n = (int) bytes;
        byte[] sent = payload(n, seed);
        String sentSha = sha256(sent, n);
        byte[] got = new byte[n];

        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 10_000);
            socket.setSoTimeout(60_000); // a stalled echo fails instead of hanging the benchmark
            InputStream in = socket.getInputStream();
            OutputStream out = socket.getOutputStream();
            IOException[] writeFailure = new IOException[1];
            long start = System.nanoTime();
            Thread writer = new Thread(() -> {
                try {
                    for (int off = 0; off < n; off += CHUNK) {
                        out.write(sent, off, Math.min(CHUNK, n - off));
                    }
                } catch (IOException e) {
                    writeFailure[0] = e;
                }
            }, "writer");
            writer.start();
            int have = 0;
            while (have < n) {
                int r = in.read(got, have, Math.min(CHUNK, n - have));
                if (r < 0) {
                    break;
                }
                have += r;
            }
            // The clock stops at the last byte of the echo, not at the server's FIN: a plain server at G
            // on a Gecko node never gets its FIN out (the node fence passes only GeckoSockets' FINs).
            double seconds = (System.nanoTime() - start) / 1e9;
            writer.join();
            if (writeFailure[0] != null) {
                throw writeFailure[0];
            }
            // Our end only now, after the whole echo: the server then closes, and a FIN riding on its last
            // data could not pass node1's fence (see above) had it come earlier.
            socket.shutdownOutput();
            // Nothing more may come: the end, or nothing within a moment.
            long extra = 0;
            if (have == n) {
                socket.setSoTimeout(200);
                try {
                    int r = in.read(new byte[CHUNK]);
                    extra = Math.max(r, 0);
                } catch (SocketTimeoutException e) {
                    // Nothing more.
                }
            }
            boolean ok = have == n && extra == 0 && sha256(got, have).equals(sentSha);
            System.out.printf("echo bytes=%d seconds=%.3f mbps=%.1f sha256=%s%n", n, seconds, n / seconds / 1e6,
                    ok ? "ok" : "DIFFERENT");
            if (!ok) {
                int at = Arrays.mismatch(sent, 0, n, got, 0, have);
                System.err.printf("EchoClient: echo differs: %d of %d bytes back (+%d more), first difference at %d%n",
                        have, n, extra, at);
                System.exit(1);
            }
        }
    }

    private static void usage(String why) {
        System.err.println("EchoClient: " + why
                + "\nusage: java EchoClient.java --host HOST [--port 7] [--bytes 268435456] [--seed 1]");
        System.exit(2);
    }
}
