package dev.gecko;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The command line every Gecko server shares, in every language: {@code --config}/{@code -g} (the
 * configuration file), {@code --local} (this node's address), {@code --iface} (its interface) and
 * {@code --policy NAME|node=ADDR|CLASS}, each defaulting to {@code GECKO_CONFIG},
 * {@code GECKO_LOCAL_ADDRESS}, {@code GECKO_INTERFACE} (else {@code eth0}) and {@code random}. A
 * server adds flags of its own.
 *
 * <pre>{@code
 * NodeOptions options = NodeOptions.parse(args, "--port");
 * int port = options.getInt("--port", 7);
 * try (GeckoFramework gecko = options.start()) { ... }
 * }</pre>
 */
public final class NodeOptions {
    private final Map<String, String> values;

    private NodeOptions(Map<String, String> values) {
        this.values = values;
    }

    /**
     * The flags of {@code args} over the {@code GECKO_*} variables.
     *
     * @param args the command line: flag, value, flag, value...
     * @param extra the server's own flags (as {@code "--port"}), which have no default
     * @return the options
     * @throws IllegalArgumentException for an unknown flag, a flag without a value, or no configuration
     *     or local address given either way
     */
    public static NodeOptions parse(String[] args, String... extra) {
        Objects.requireNonNull(args, "args");
        Map<String, String> f = new HashMap<>();
        f.put("--config", System.getenv("GECKO_CONFIG"));
        f.put("--local", System.getenv("GECKO_LOCAL_ADDRESS"));
        f.put("--iface", System.getenv().getOrDefault("GECKO_INTERFACE", "eth0"));
        f.put("--policy", "random");
        List<String> own = List.of(extra);
        for (int i = 0; i < args.length; i++) {
            String name = args[i].equals("-g") ? "--config" : args[i];
            if (!f.containsKey(name) && !own.contains(name)) {
                throw new IllegalArgumentException("unknown flag: " + args[i]);
            }
            if (i + 1 == args.length) {
                throw new IllegalArgumentException("flag " + args[i] + " needs a value");
            }
            f.put(name, args[++i]);
        }
        if (f.get("--config") == null || f.get("--local") == null) {
            throw new IllegalArgumentException(
                    "--config and --local are needed (or GECKO_CONFIG and GECKO_LOCAL_ADDRESS)");
        }
        return new NodeOptions(f);
    }

    /**
     * A flag's value.
     *
     * @param flag as {@code "--port"}
     * @return its value, or null when not given and without a default
     */
    public String get(String flag) {
        return values.get(flag);
    }

    /**
     * A flag's value as a number.
     *
     * @param flag as {@code "--port"}
     * @param otherwise the value when the flag is not given
     * @return the number
     * @throws IllegalArgumentException if the value is not an {@code int}
     */
    public int getInt(String flag, int otherwise) {
        long v = getLong(flag, otherwise);
        if (v != (int) v) {
            throw new IllegalArgumentException(flag + " is out of range: " + v);
        }
        return (int) v;
    }

    /**
     * A flag's value as a number.
     *
     * @param flag as {@code "--handoff-every"}
     * @param otherwise the value when the flag is not given
     * @return the number
     * @throws IllegalArgumentException if the value is not a {@code long}
     */
    public long getLong(String flag, long otherwise) {
        String v = values.get(flag);
        try {
            return v == null ? otherwise : Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " needs a number, not `" + v + "`");
        }
    }

    /**
     * The policy {@code --policy} names: a shipped one by name, {@code node=ADDR} (every connection to
     * that node while it is available), or the name of a {@link GeckoPolicy} subclass on the class path
     * made without arguments.
     *
     * @return a new policy
     * @throws IllegalArgumentException if the value names no policy
     */
    public GeckoPolicy policy() {
        String spec = values.get("--policy");
        if (spec.startsWith("node=")) {
            return new OneNode(address(spec.substring(5), "--policy node="));
        }
        if (spec.contains(".")) {
            // The application's class loader (a container's, the source launcher's), else the JAR's.
            ClassLoader loader = Thread.currentThread().getContextClassLoader();
            try {
                return (GeckoPolicy) Class.forName(spec, true, loader != null ? loader : NodeOptions.class.getClassLoader())
                        .getDeclaredConstructor().newInstance();
            } catch (ReflectiveOperationException | ClassCastException e) {
                throw new IllegalArgumentException("--policy " + spec + ": not a GeckoPolicy made without arguments: " + e,
                        e);
            }
        }
        return GeckoPolicy.byName(spec);
    }

    /**
     * Starts this node: the framework of {@code --local}, {@code --config} and {@code --iface}, with
     * the policy of {@code --policy} (checked before the node starts).
     *
     * @return the running framework
     * @throws IllegalArgumentException if {@code --local} or {@code --policy} is bad
     * @throws IOException as {@link GeckoFramework#GeckoFramework}
     */
    public GeckoFramework start() throws IOException {
        GeckoPolicy policy = policy();
        GeckoFramework framework =
                new GeckoFramework(address(values.get("--local"), "--local"), Path.of(values.get("--config")),
                        values.get("--iface"));
        framework.setPolicy(policy);
        return framework;
    }

    private static Inet6Address address(String literal, String flag) {
        try {
            if (InetAddress.getByName(literal) instanceof Inet6Address a) {
                return a;
            }
        } catch (UnknownHostException e) {
            // worded below
        }
        throw new IllegalArgumentException(flag + " needs an IPv6 address, not `" + literal + "`");
    }

    /** Every connection to one node while it is available; else kept here. */
    private static final class OneNode extends GeckoPolicy {
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
}
