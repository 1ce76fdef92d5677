import dev.gecko.GeckoException;
import dev.gecko.GeckoFramework;
import dev.gecko.GeckoServerSocket;
import dev.gecko.GeckoSocket;
import dev.gecko.NodeOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * The seed's echo server on Gecko, in Java (examples/rust/echo_server.rs in Rust,
 * examples/python/echo.py in Python): each new connection is placed by the policy at establishment,
 * and every {@code H} byte read hands the connection off again, after its echo. The client sees one
 * server at G and a byte-exact echo throughout.
 *
 * <pre>
 * gecko-lab exec --name L node1 -- java -cp bindings-java/target/gecko-0.1.0.jar \
 *     examples/java/EchoServer.java --policy round-robin
 * </pre>
 *
 * <p>Flags as the other examples' ({@code dev.gecko.NodeOptions}): {@code --config/-g}, {@code --local},
 * {@code --iface} (defaults from {@code GECKO_CONFIG}, {@code GECKO_LOCAL_ADDRESS}, {@code GECKO_INTERFACE}
 * or eth0), {@code --policy NAME|node=ADDR|CLASS} (a shipped policy, every connection to one node, or a
 * {@code GeckoPolicy} subclass on the class path made without arguments); and {@code --port} (7).
 */
public final class EchoServer {
    private EchoServer() {}

    /** Echoes until the client closes or the connection moves away. */
    static void serve(GeckoSocket socket) {
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
                boolean h = false;
                for (int i = 0; i < n && !h; i++) {
                    h = buf[i] == 'H';
                }
                if (h) {
                    try {
                        if (socket.handoff()) {
                            return; // served by another node now
                        }
                    } catch (GeckoException e) {
                        System.err.println("handoff failed; serving on: " + e.getMessage());
                    }
                }
            }
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
            NodeOptions f = NodeOptions.parse(args, "--port");
            int port = f.getInt("--port", 7);
            try (GeckoFramework framework = f.start(); GeckoServerSocket server = framework.getServerSocket(port)) {
                System.err.println("echo server ready on port " + port);
                while (true) {
                    GeckoSocket socket = server.accept();
                    Thread t = new Thread(() -> serve(socket), "echo");
                    t.setDaemon(true);
                    t.start();
                }
            }
        } catch (Exception e) {
            System.err.println("EchoServer: " + e);
            System.exit(1);
        }
    }
}
