import dev.gecko.ClientInfo;
import dev.gecko.GeckoException;
import dev.gecko.GeckoFramework;
import dev.gecko.GeckoPolicy;
import dev.gecko.GeckoServerSocket;
import dev.gecko.GeckoSocket;
import dev.gecko.NodeInfo;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

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
 * <p>Flags as the other examples': {@code --config/-g}, {@code --local}, {@code --iface} (defaults from
 * {@code GECKO_CONFIG}, {@code GECKO_LOCAL_ADDRESS}, {@code GECKO_INTERFACE} or eth0), {@code --port}
 * (7), {@code --policy NAME|node=ADDR|CLASS} (a shipped policy, every connection to one node, or a
 * {@code GeckoPolicy} subclass on the class path made without arguments).
 */
public final class EchoServer {
    private EchoServer() {}

    /** Every connection to one node while it is available; else kept here. */
    static final class OneNode extends GeckoPolicy {
        private final Inet6Address address;

        OneNode(Inet6Address address) {
            this.address = address;
        }

        @Override
        public Inet6Address selectTarget(ClientInfo client) {
            for (NodeInfo n : client.available()) {
                if (n.address().equals(address)) {
                    return address;
                }
            }
            return null;
        }
    }

    /** The flags, from the command line over the GECKO_* variables. */
    static Map<String, String> flags(String[] args, String... names) {
        Map<String, String> f = new HashMap<>();
        f.put("--config", System.getenv("GECKO_CONFIG"));
        f.put("--local", System.getenv("GECKO_LOCAL_ADDRESS"));
        f.put("--iface", System.getenv().getOrDefault("GECKO_INTERFACE", "eth0"));
        f.put("--policy", "random");
        for (int i = 0; i < args.length; i++) {
            String name = args[i].equals("-g") ? "--config" : args[i];
            if (!f.containsKey(name) && !java.util.List.of(names).contains(name) || i + 1 == args.length) {
                throw new IllegalArgumentException("unknown flag or missing value: " + args[i]);
            }
            f.put(name, args[++i]);
        }
        if (f.get("--config") == null || f.get("--local") == null) {
            throw new IllegalArgumentException("--config and --local are needed (or GECKO_CONFIG, GECKO_LOCAL_ADDRESS)");
        }
        return f;
    }

    /** The policy a --policy value names. */
    static GeckoPolicy policy(String spec) throws Exception {
        if (spec.startsWith("node=")) {
            return new OneNode((Inet6Address) InetAddress.getByName(spec.substring(5)));
        }
        if (spec.contains(".")) {
            return (GeckoPolicy) Class.forName(spec).getDeclaredConstructor().newInstance();
        }
        return GeckoPolicy.byName(spec);
    }

    /** The node's framework with its policy (checked before it starts). */
    static GeckoFramework start(Map<String, String> f) throws Exception {
        GeckoPolicy policy = policy(f.get("--policy"));
        GeckoFramework framework = new GeckoFramework((Inet6Address) InetAddress.getByName(f.get("--local")),
                Path.of(f.get("--config")), f.get("--iface"));
        framework.setPolicy(policy);
        return framework;
    }

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
            Map<String, String> f = flags(args, "--port");
            int port = Integer.parseInt(f.getOrDefault("--port", "7"));
            try (GeckoFramework framework = start(f); GeckoServerSocket server = framework.getServerSocket(port)) {
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
