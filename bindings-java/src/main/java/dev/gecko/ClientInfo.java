package dev.gecko;

import java.net.Inet6Address;
import java.nio.ByteBuffer;
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

    /** The client's part of the native form: two addresses and a port. */
    private static final int HEAD = 16 + 2 + 16;
    /** Each node's part: address, connections, round-trip nanoseconds (-1: none), available. */
    private static final int NODE = 16 + 4 + 8 + 1;

    /**
     * The client the native library sends in one array (bindings-java/src/client_info.rs writes it):
     * client address, port, local address, then per node address, connections, round-trip time in
     * nanoseconds (-1: none), availability; big-endian.
     */
    static ClientInfo fromNative(byte[] client) {
        if (client.length < HEAD || (client.length - HEAD) % NODE != 0) {
            throw new IllegalArgumentException("a client of " + client.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(client);
        Inet6Address address = address(b);
        int port = Short.toUnsignedInt(b.getShort());
        Inet6Address local = address(b);
        NodeInfo[] views = new NodeInfo[(client.length - HEAD) / NODE];
        for (int i = 0; i < views.length; i++) {
            Inet6Address a = address(b);
            int connections = b.getInt();
            long rtt = b.getLong();
            views[i] = new NodeInfo(a, connections, rtt < 0 ? null : Duration.ofNanos(rtt), b.get() != 0);
        }
        return new ClientInfo(address, port, local, List.of(views));
    }

    /** This client in the native library's form ({@link #fromNative}'s). */
    byte[] toNative() {
        ByteBuffer b = ByteBuffer.allocate(HEAD + NODE * nodes.size());
        b.put(address.getAddress()).putShort((short) port).put(local.getAddress());
        for (NodeInfo v : nodes) {
            b.put(v.address().getAddress()).putInt(v.connections()).putLong(v.rtt().map(ClientInfo::nanos).orElse(-1L))
                    .put((byte) (v.isAvailable() ? 1 : 0));
        }
        return b.array();
    }

    private static Inet6Address address(ByteBuffer b) {
        byte[] a = new byte[16];
        b.get(a);
        return Inet.of(a);
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
