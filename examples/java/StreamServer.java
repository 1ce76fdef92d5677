import dev.gecko.GeckoException;
import dev.gecko.GeckoFramework;
import dev.gecko.GeckoServerSocket;
import dev.gecko.GeckoSocket;
import dev.gecko.NodeOptions;
import dev.gecko.StreamOffsets;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A file-download server on Gecko, in Java (examples/rust/stream_server.rs in Rust,
 * examples/python/stream.py in Python): {@code GET /} answers with one file over HTTP/1.1. The response
 * is one byte sequence R (head, then the file); a connection that arrives mid-stream (handed in, or
 * recovered after its node crashed) resumes R where the connection's position says the previous node
 * stopped.
 *
 * <pre>
 * gecko-lab exec --name L node1 -- java -cp bindings-java/target/gecko-0.1.0.jar \
 *     examples/java/StreamServer.java --file /srv/big.bin
 * curl -o out http://[G]:8080/
 * </pre>
 *
 * <p>Flags: those of {@code EchoServer.java}, {@code --port} (8080), {@code --file PATH} (needed) and
 * {@code --handoff-every BYTES} (hand the connection off each time the response reaches a multiple).
 */
public final class StreamServer {
    private static final int MAX_HEAD = 8 * 1024;
    private static final int REQUEST_TIMEOUT_MS = 30_000;
    private static final int LINGER_TIMEOUT_MS = 30_000;
    private static final int CHUNK = 64 * 1024;

    private StreamServer() {}

    /** R: its head in memory, the file read from disk as sent. */
    static final class Response {
        final Path path;
        final long fileLen;
        final byte[] head;

        Response(Path path) throws IOException {
            if (!Files.isRegularFile(path)) {
                throw new IOException("cannot serve " + path + ": not a regular file");
            }
            this.path = path;
            this.fileLen = Files.size(path);
            this.head = ("HTTP/1.1 200 OK\r\nContent-Length: " + fileLen
                    + "\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII);
        }

        long length() {
            return head.length + fileLen;
        }

        /** Up to {@code n} bytes of R from {@code at}. */
        int readAt(RandomAccessFile file, long at, byte[] buf, int n) throws IOException {
            if (at < head.length) {
                int k = (int) Math.min(n, head.length - at);
                System.arraycopy(head, (int) at, buf, 0, k);
                return k;
            }
            file.seek(at - head.length);
            int k = file.read(buf, 0, (int) Math.min(n, length() - at));
            if (k <= 0) {
                throw new IOException("the file shrank while serving it");
            }
            return k;
        }
    }

    /** Reads the request head; null for {@code GET /}, else the status to answer. */
    static String readRequest(GeckoSocket socket) throws IOException {
        socket.setSoTimeout(REQUEST_TIMEOUT_MS);
        byte[] head = new byte[MAX_HEAD];
        int len = 0;
        while (!new String(head, 0, len, StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) {
            if (len >= MAX_HEAD) {
                return "431 Request Header Fields Too Large";
            }
            int n = socket.read(head, len, Math.min(2048, MAX_HEAD - len));
            if (n < 0) {
                throw new IOException("closed before the request head ended");
            }
            len += n;
        }
        socket.setSoTimeout(0);
        String line = new String(head, 0, len, StandardCharsets.ISO_8859_1).split("\n", 2)[0].strip();
        String[] parts = (line + "  ").split(" ", -1);
        if (parts[0].equals("GET") && parts[1].equals("/")) {
            return null;
        }
        return parts[0].equals("GET") ? "404 Not Found" : "405 Method Not Allowed";
    }

    /** Waits (bounded) for the client to close after the whole response. */
    static void linger(GeckoSocket socket) {
        try {
            socket.setSoTimeout(LINGER_TIMEOUT_MS);
            byte[] buf = new byte[4096];
            while (socket.read(buf, 0, buf.length) > 0) {
                // Discard.
            }
        } catch (IOException e) {
            // Closed, or timed out.
        }
    }

    /** Writes R from {@code startAt}, handing off at each multiple of {@code every}; false once moved. */
    static boolean send(GeckoSocket socket, Response r, long startAt, long every) throws IOException {
        long at = startAt;
        long nextHandoff = every > 0 ? (startAt / every + 1) * every : 0;
        OutputStream out = socket.getOutputStream();
        byte[] buf = new byte[CHUNK];
        try (RandomAccessFile file = new RandomAccessFile(r.path.toFile(), "r")) {
            while (at < r.length()) {
                long limit = every > 0 ? Math.min(nextHandoff, r.length()) : r.length();
                int n = r.readAt(file, at, buf, (int) Math.min(limit - at, CHUNK));
                out.write(buf, 0, n);
                at += n;
                if (every > 0 && at == nextHandoff && at < r.length()) {
                    nextHandoff += every;
                    try {
                        if (socket.handoff()) {
                            return false;
                        }
                    } catch (GeckoException e) {
                        System.err.println("handoff failed at " + at + "; serving on: " + e.getMessage());
                    }
                }
            }
        }
        return true;
    }

    static void serve(GeckoSocket socket, Response r, long every) {
        try (socket) {
            StreamOffsets p = socket.position();
            boolean arrived = socket.isHandedIn() || socket.recovered().isPresent();
            long startAt;
            if (p.sent() > 0) {
                System.err.println("resuming the response at " + p.sent() + " (handed in " + socket.isHandedIn()
                        + ", recovered " + socket.recovered().isPresent() + ")");
                startAt = p.sent();
            } else if (arrived && p.received() > 0) {
                startAt = 0; // the request was read on another node
            } else {
                String status = readRequest(socket);
                if (status != null) {
                    String body = status + "\n";
                    String allow = status.startsWith("405") ? "Allow: GET\r\n" : "";
                    socket.getOutputStream().write(("HTTP/1.1 " + status + "\r\nContent-Length: " + body.length()
                            + "\r\nContent-Type: text/plain\r\n" + allow + "Connection: close\r\n\r\n" + body)
                            .getBytes(StandardCharsets.US_ASCII));
                    linger(socket);
                    return;
                }
                startAt = 0;
            }
            if (send(socket, r, startAt, every)) {
                linger(socket);
            }
        } catch (SocketTimeoutException e) {
            // The client sent no request in time.
        } catch (IOException e) {
            // The connection ended.
        }
    }

    /**
     * Serves until killed.
     *
     * @param args the flags
     */
    public static void main(String[] args) {
        try {
            NodeOptions f = NodeOptions.parse(args, "--port", "--file", "--handoff-every");
            int port = f.getInt("--port", 8080);
            long every = f.getLong("--handoff-every", 0);
            if (f.get("--file") == null) {
                throw new IllegalArgumentException("--file is needed");
            }
            // Checked before the node joins: a node that cannot serve must not take connections.
            Response response = new Response(Path.of(f.get("--file")));
            try (GeckoFramework framework = f.start();
                    GeckoServerSocket server = framework.getServerSocket(port)) {
                System.err.println("stream server ready on port " + port + ": " + f.get("--file") + ", "
                        + response.fileLen + " bytes");
                while (true) {
                    GeckoSocket socket = server.accept();
                    Thread t = new Thread(() -> serve(socket, response, every), "stream");
                    t.setDaemon(true);
                    t.start();
                }
            }
        } catch (Exception e) {
            System.err.println("StreamServer: " + e);
            System.exit(1);
        }
    }
}
