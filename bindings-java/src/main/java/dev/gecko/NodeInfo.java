package dev.gecko;

import java.net.Inet6Address;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/** One node of the distributed server as a policy sees it. Immutable. */
public final class NodeInfo {
    private final Inet6Address address;
    private final int connections;
    private final Duration rtt;
    private final boolean available;

    /**
     * A node's view; the framework makes them, and tests of a policy may too.
     *
     * @param address the node's own address (what {@link GeckoPolicy#selectTarget} returns to pick it)
     * @param connections how many connections the node serves now, {@code >= 0}
     * @param rtt the node's measured round-trip time to the client, or {@code null} if not measured
     * @param available false for a node that did not report lately or just failed a handoff
     * @throws NullPointerException if {@code address} is null
     * @throws IllegalArgumentException if {@code connections} or {@code rtt} is negative
     */
    public NodeInfo(Inet6Address address, int connections, Duration rtt, boolean available) {
        this.address = Objects.requireNonNull(address, "address");
        if (connections < 0) {
            throw new IllegalArgumentException("connections must be >= 0: " + connections);
        }
        if (rtt != null && rtt.isNegative()) {
            throw new IllegalArgumentException("rtt must be >= 0: " + rtt);
        }
        this.connections = connections;
        this.rtt = rtt;
        this.available = available;
    }

    /**
     * The node's own address.
     *
     * @return the address a policy returns to pick this node
     */
    public Inet6Address address() {
        return address;
    }

    /**
     * Connections the node serves now.
     *
     * @return its latest report plus the connections handed to it since
     */
    public int connections() {
        return connections;
    }

    /**
     * The node's measured round-trip time to the client.
     *
     * @return the time, or empty if the node has not measured it
     */
    public Optional<Duration> rtt() {
        return Optional.ofNullable(rtt);
    }

    /**
     * Whether the shipped policies may pick this node.
     *
     * @return false for a node that did not report lately or just failed a handoff
     */
    public boolean isAvailable() {
        return available;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NodeInfo n && n.address.equals(address) && n.connections == connections
                && Objects.equals(n.rtt, rtt) && n.available == available;
    }

    @Override
    public int hashCode() {
        return Objects.hash(address, connections, rtt, available);
    }

    @Override
    public String toString() {
        return "NodeInfo[address=" + address.getHostAddress() + ", connections=" + connections + ", rtt="
                + rtt + ", available=" + available + "]";
    }
}
