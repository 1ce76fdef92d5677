package dev.gecko;

import java.net.Inet6Address;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/** What a policy is asked about: one client connection and the nodes that may serve it. Immutable. */
public final class ClientInfo {
    private final Inet6Address address;
    private final int port;
    private final Inet6Address local;
    private final List<NodeInfo> nodes;

    /**
     * A client's view; the framework makes them, and tests of a policy may too.
     *
     * @param address the client's address
     * @param port the client's port, 0 to 65535
     * @param local the node asking (the one serving the connection now)
     * @param nodes every node of the distributed server, this one included
     * @throws NullPointerException if an argument or a node is null
     * @throws IllegalArgumentException if {@code port} is out of range
     */
    public ClientInfo(Inet6Address address, int port, Inet6Address local, List<NodeInfo> nodes) {
        this.address = Objects.requireNonNull(address, "address");
        this.local = Objects.requireNonNull(local, "local");
        if (port < 0 || port > 0xffff) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
        this.port = port;
        this.nodes = List.copyOf(Objects.requireNonNull(nodes, "nodes"));
    }

    /**
     * The client's address.
     *
     * @return the address
     */
    public Inet6Address address() {
        return address;
    }

    /**
     * The client's port.
     *
     * @return the port
     */
    public int port() {
        return port;
    }

    /**
     * The node asking: the one that serves the connection now.
     *
     * @return its address
     */
    public Inet6Address local() {
        return local;
    }

    /**
     * Every node of the distributed server, this one included, in configuration order.
     *
     * @return an unmodifiable list
     */
    public List<NodeInfo> nodes() {
        return nodes;
    }

    /**
     * The nodes the shipped policies may choose from.
     *
     * @return the available nodes, unmodifiable
     */
    public List<NodeInfo> available() {
        return nodes.stream().filter(NodeInfo::isAvailable).toList();
    }

    /** From the native library's arrays (see {@link GeckoPolicy}). */
    static ClientInfo fromNative(byte[] address, int port, byte[] local, byte[] nodes, int[] connections,
            long[] rtts, boolean[] available) {
        NodeInfo[] views = new NodeInfo[connections.length];
        for (int i = 0; i < views.length; i++) {
            byte[] a = java.util.Arrays.copyOfRange(nodes, 16 * i, 16 * i + 16);
            Duration rtt = rtts[i] < 0 ? null : Duration.ofNanos(rtts[i]);
            views[i] = new NodeInfo(Inet.of(a), connections[i], rtt, available[i]);
        }
        return new ClientInfo(Inet.of(address), port, Inet.of(local), List.of(views));
    }

    /** The native library's arrays of this client, in {@code fromNative}'s order. */
    Object[] toNative() {
        int n = nodes.size();
        byte[] addresses = new byte[16 * n];
        int[] connections = new int[n];
        long[] rtts = new long[n];
        boolean[] available = new boolean[n];
        for (int i = 0; i < n; i++) {
            NodeInfo v = nodes.get(i);
            System.arraycopy(v.address().getAddress(), 0, addresses, 16 * i, 16);
            connections[i] = v.connections();
            rtts[i] = v.rtt().map(ClientInfo::nanos).orElse(-1L);
            available[i] = v.isAvailable();
        }
        return new Object[] {address.getAddress(), port, local.getAddress(), addresses, connections, rtts,
            available};
    }

    private static long nanos(Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    @Override
    public String toString() {
        return "ClientInfo[address=" + address.getHostAddress() + ", port=" + port + ", local="
                + local.getHostAddress() + ", nodes=" + nodes + "]";
    }
}
