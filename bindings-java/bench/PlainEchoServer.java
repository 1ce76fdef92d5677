import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The baseline of the Java binding's echo benchmark: a plain {@link ServerSocket} echo server with
 * the loop of {@code examples/java/EchoServer.java}'s {@code serve} (64 KiB buffer, the streams, the
 * scan for an {@code H} byte) but no handoff, a thread per connection. What it costs against
 * EchoServer.java on the same hosts is the cost of the binding.
 *
 * <pre>
 * gecko-lab exec --name L node1 -- java bindings-java/bench/PlainEchoServer.java --port 7007
 * </pre>
 *
 * <p>Listens on {@code [::]:PORT} ({@code --port}, default 7007); prints {@code ready} once it does.
 */
public final class PlainEchoServer {
    private PlainEchoServer() {}

    /** How many reads held an {@code H} (EchoServer.java hands off there); keeps the scan's result used. */
    static final AtomicLong handoffPoints = new AtomicLong();

    /** Echoes until the client closes: EchoServer.java's loop without the handoff. */
    static void serve(Socket socket) {
        try (socket) {
            InputStream in = socket.getInputStream();
            OutputStream out = socket.getOutputStream();
            byte[] buf = new byte[65536];
            while (true) {
                int n = in.read(buf);
                if (n < 0) {
                    return;
                }
                out.write(buf, 0, n);
                // The same scan as EchoServer.java's, so both servers do the same work per byte.
                boolean h = false;
                for (int i = 0; i < n && !h; i++) {
                    h = buf[i] == 'H';
                }
                if (h) {
                    handoffPoints.incrementAndGet(); // where EchoServer.java would hand off
                }
            }
        } catch (IOException e) {
            // The connection ended.
        }
    }

    /**
     * Serves until killed.
     *
     * @param args {@code --port PORT} (default 7007)
     */
    public static void main(String[] args) {
        int port = 7007;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--port") && i + 1 < args.length) {
                port = Integer.parseInt(args[++i]);
            } else {
                System.err.println("PlainEchoServer: unknown flag or missing value: " + args[i]);
                System.exit(2);
            }
        }
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            // [::] accepts on every address of the host, G included where this host holds it.
            server.bind(new InetSocketAddress(InetAddress.getByName("::"), port));
            System.out.println("ready");
            System.out.flush();
            while (true) {
                Socket socket = server.accept();
                Thread t = new Thread(() -> serve(socket), "echo");
                t.setDaemon(true);
                t.start();
            }
        } catch (IOException e) {
            System.err.println("PlainEchoServer: " + e);
            System.exit(1);
        }
    }
}
