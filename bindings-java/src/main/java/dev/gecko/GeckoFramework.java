package dev.gecko;

import java.io.IOException;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.net.Inet6Address;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This process as one node of a distributed server: clients see all nodes as one IPv6 address
 * ({@link #globalAddress()}), and connections move between nodes, also when one crashes.
 *
 * <pre>{@code
 * try (GeckoFramework gecko = new GeckoFramework(local, Path.of("gecko.toml"), "eth0");
 *      GeckoServerSocket server = gecko.getServerSocket()) {
 *     gecko.setPolicy(new RoundRobinPolicy());
 *     while (true) {
 *         GeckoSocket socket = server.accept();
 *         ...
 *     }
 * }
 * }</pre>
 *
 * <p>Thread-safe. {@link #close()} stops the node and closes its server sockets; connections already
 * accepted stay open (the node's runtime stops when the last one closes). A framework a program forgets
 * to close is let go by a {@link Cleaner} once unreachable (its server sockets stay open).
 */
public final class GeckoFramework implements AutoCloseable {
    private final long id;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;
    private volatile GeckoPolicy policy;
    /** The open server sockets made here: closed, and their native halves freed, with the framework. */
    private final Set<GeckoServerSocket> servers = ConcurrentHashMap.newKeySet();

    /**
     * Starts the node whose address is {@code local} in the configuration file {@code config}, on the
     * network interface {@code networkInterface}.
     *
     * @param local this node's own address: one of the configuration's nodes
     * @param config the distributed server's configuration file
     * @param networkInterface this node's network link (as {@code eth0})
     * @throws ConfigException if the file is bad (the message names file, line and field) or
     *     {@code local} is none of its nodes
     * @throws NodeException if the node cannot start (interface, registration, membership)
     * @throws IOException if the operating system fails
     * @throws NullPointerException if an argument is null
     */
    public GeckoFramework(Inet6Address local, Path config, String networkInterface) throws IOException {
        Objects.requireNonNull(local, "local");
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(networkInterface, "networkInterface");
        Native.initLogging(new Log(), null);
        long made = Native.frameworkNew(local.getAddress(), config.toString(), networkInterface);
        this.id = made;
        this.cleanable = Native.CLEANER.register(this, () -> Native.free(made));
    }

    /**
     * Sets the policy that places new connections and chooses handoff targets (the default is the
     * core's: random). A shipped policy decides natively; a policy written in Java is called from the
     * framework's threads.
     *
     * @param policy the policy
     * @throws NullPointerException if {@code policy} is null
     * @throws IllegalStateException if the framework is closed
     */
    public void setPolicy(GeckoPolicy policy) {
        Objects.requireNonNull(policy, "policy");
        try {
            policy.withCore(core -> {
                Native.frameworkSetPolicy(id, core);
                return null;
            });
            this.policy = policy;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The policy {@link #setPolicy} set last.
     *
     * @return the policy, or null for the core's default (random)
     */
    public GeckoPolicy getPolicy() {
        return policy;
    }

    /**
     * The connections this node serves on the configuration's service port.
     *
     * @return a server socket, closed with this framework
     * @throws PortInUseException if this framework serves that port already
     * @throws IOException if it cannot listen
     * @throws IllegalStateException if the framework is closed
     */
    public GeckoServerSocket getServerSocket() throws IOException {
        return serverSocket(-1);
    }

    /**
     * The connections this node serves on {@code port} of the global address.
     *
     * @param port 1 to 65535
     * @return a server socket, closed with this framework
     * @throws IllegalArgumentException if {@code port} is out of range
     * @throws PortInUseException if this framework serves that port already
     * @throws IOException if it cannot listen
     * @throws IllegalStateException if the framework is closed
     */
    public GeckoServerSocket getServerSocket(int port) throws IOException {
        if (port < 1 || port > 0xffff) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
        return serverSocket(port);
    }

    private GeckoServerSocket serverSocket(int port) throws IOException {
        try {
            GeckoServerSocket server = new GeckoServerSocket(Native.frameworkServerSocket(id, port), this);
            servers.add(server);
            if (closed) {
                server.close(); // closed meanwhile: its native half is closed already, free it
            }
            return server;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * This node takes part in serving again (after {@link #leaveReplicaNetwork()}).
     *
     * @throws NodeException if it cannot rejoin
     * @throws IllegalStateException if the framework is closed
     */
    public void joinReplicaNetwork() throws IOException {
        try {
            Native.frameworkJoin(id);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * This node leaves the membership: no new connections are handed to it, and those it serves stay
     * without a backup.
     *
     * @throws NodeException if it cannot leave
     * @throws IllegalStateException if the framework is closed
     */
    public void leaveReplicaNetwork() throws IOException {
        try {
            Native.frameworkLeave(id);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Whether handoffs run return routability before freezing the connection (shorter stalls).
     *
     * @param split true to split
     * @throws IllegalStateException if the framework is closed
     */
    public void setSplitHandoff(boolean split) {
        try {
            Native.frameworkSetSplitHandoff(id, split);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * This node's own address.
     *
     * @return the address
     * @throws IllegalStateException if the framework is closed
     */
    public Inet6Address localAddress() {
        try {
            return Inet.of(Native.frameworkLocalAddress(id));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * G: the one address clients connect to.
     *
     * @return the address
     * @throws IllegalStateException if the framework is closed
     */
    public Inet6Address globalAddress() {
        try {
            return Inet.of(Native.frameworkGlobalAddress(id));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The configuration's service port ({@link #getServerSocket()}'s).
     *
     * @return the port
     * @throws IllegalStateException if the framework is closed
     */
    public int servicePort() {
        try {
            return Native.frameworkServicePort(id);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Whether {@link #close()} ran.
     *
     * @return true once closed
     */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Stops the node: its server sockets close; connections already accepted stay open. Calling it
     * again does nothing.
     */
    @Override
    public void close() {
        closed = true;
        Native.frameworkClose(id);
        for (GeckoServerSocket server : servers) {
            server.close();
        }
        cleanable.clean();
    }

    /** A server socket of this framework closed. */
    void forget(GeckoServerSocket server) {
        servers.remove(server);
    }

    /**
     * How many native objects (frameworks, server sockets, sockets, policies) this process holds now:
     * each is freed by its {@code close()}, or by a {@link Cleaner} once unreachable. For tests and leak
     * checks.
     *
     * @return the count
     */
    public static long liveNativeHandles() {
        return Native.liveHandles();
    }

    /**
     * Sends Gecko's log lines to the {@link System.Logger} named {@code dev.gecko} (and so to the
     * application's logging), once per process: the first call wins, and a framework makes it with the
     * default filter.
     *
     * @param filter a {@code RUST_LOG}-style filter such as {@code info} or {@code gecko=debug}, or null
     *     for the {@code RUST_LOG} variable (default {@code info})
     * @throws IllegalArgumentException if the filter is malformed
     */
    public static void initLogging(String filter) {
        Native.initLogging(new Log(), filter);
    }

    @Override
    public String toString() {
        if (closed) {
            return "GeckoFramework[closed]";
        }
        try {
            return "GeckoFramework[local=" + localAddress().getHostAddress() + ", global="
                    + globalAddress().getHostAddress() + "]";
        } catch (IllegalStateException e) {
            return "GeckoFramework[closed]";
        }
    }
}
