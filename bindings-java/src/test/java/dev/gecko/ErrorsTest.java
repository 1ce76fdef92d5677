package dev.gecko;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Gecko's errors as Java exceptions, without root: configuration, node and argument errors. */
class ErrorsTest {
    private static final String CONFIG = String.join("\n",
            "global_address = \"2001:db8:ffff::1\"",
            "home_prefix = \"2001:db8:ffff::/64\"",
            "service_port = 7",
            "",
            "[home_agent]",
            "address = \"2001:db8:ffff::fe\"",
            "metrics = \"[2001:db8:ffff::fe]:9100\"",
            "",
            "[[nodes]]",
            "name = \"node1\"",
            "address = \"2001:db8:1:1::2\"",
            "metrics = \"[2001:db8:1:1::2]:9100\"",
            "",
            "[contact]",
            "node = \"node9\"",
            "backups = []",
            "",
            "[security]",
            "mn_ha_key = \"00112233445566778899aabbccddeeff\"",
            "mn_ha_spi = 256",
            "cluster_key = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"",
            "",
            "[timers]",
            "binding_lifetime_secs = 60",
            "refresh_secs = 20",
            "");

    @Test
    void aBadConfigurationNamesFileLineAndField(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("gecko.toml");
        Files.writeString(bad, CONFIG);
        ConfigException e = assertThrows(ConfigException.class,
                () -> new GeckoFramework(Support.N1, bad, "lo"));
        String m = e.getMessage();
        assertTrue(m.contains(bad + ":15:") && m.contains("contact.node") && m.contains("node9"), m);
        assertTrue(e instanceof GeckoException);

        e = assertThrows(ConfigException.class,
                () -> new GeckoFramework(Support.N1, dir.resolve("absent.toml"), "lo"));
        assertTrue(e.getMessage().contains("cannot read"), e.getMessage());

        Files.writeString(bad, CONFIG.replace("node = \"node9\"", "node = \"node1\""));
        e = assertThrows(ConfigException.class,
                () -> new GeckoFramework(Support.v6("2001:db8:1:1::99"), bad, "lo"));
        assertTrue(e.getMessage().contains("is not the address of a node"), e.getMessage());

        NodeException n = assertThrows(NodeException.class,
                () -> new GeckoFramework(Support.N1, bad, "nosuchif0"));
        assertTrue(n.getMessage().contains("no network interface"), n.getMessage());
        // Nothing was kept of the failed frameworks.
        assertThrows(NullPointerException.class, () -> new GeckoFramework(null, bad, "lo"));
        assertThrows(NullPointerException.class, () -> new GeckoFramework(Support.N1, null, "lo"));
        assertThrows(NullPointerException.class, () -> new GeckoFramework(Support.N1, bad, null));
    }

    @Test
    void theExceptionHierarchyIsIoException() {
        for (Class<?> c : new Class<?>[] {ConfigException.class, NodeException.class, HandoffException.class,
            MovedException.class, PortInUseException.class}) {
            assertTrue(GeckoException.class.isAssignableFrom(c), c.getName());
        }
        assertTrue(IOException.class.isAssignableFrom(GeckoException.class));
    }
}
