package dev.gecko.lab;

import dev.gecko.GeckoFramework;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;

/** What the programs the lab tests run inside a node share: the node's framework, as `gecko-lab exec` sets it up. */
final class InNode {
    private InNode() {}

    /** The framework of this node, from GECKO_LOCAL_ADDRESS, GECKO_CONFIG and GECKO_INTERFACE. */
    static GeckoFramework framework() throws IOException {
        Inet6Address local = (Inet6Address) InetAddress.getByName(System.getenv("GECKO_LOCAL_ADDRESS"));
        return new GeckoFramework(local, Path.of(System.getenv("GECKO_CONFIG")),
                System.getenv().getOrDefault("GECKO_INTERFACE", "eth0"));
    }
}
