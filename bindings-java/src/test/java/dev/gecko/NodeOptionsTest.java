package dev.gecko;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet6Address;
import org.junit.jupiter.api.Test;

/** The shared command line, without root: flags over variables, policies by name, clear errors. */
class NodeOptionsTest {
    static final String[] NODE = {"--config", "/etc/gecko.toml", "--local", "2001:db8:1:1::2"};

    static String[] with(String... more) {
        String[] all = new String[NODE.length + more.length];
        System.arraycopy(NODE, 0, all, 0, NODE.length);
        System.arraycopy(more, 0, all, NODE.length, more.length);
        return all;
    }

    /** A policy of the application's own, named by its class. */
    public static final class Mine extends GeckoPolicy {
        @Override
        public Inet6Address selectTarget(ClientInfo client) {
            return null;
        }
    }

    @Test
    void flagsAndTheServersOwn() {
        NodeOptions o = NodeOptions.parse(with("-g", "/srv/g.toml", "--port", "8080"), "--port", "--file");
        assertEquals("/srv/g.toml", o.get("--config"));
        assertEquals("2001:db8:1:1::2", o.get("--local"));
        assertEquals(8080, o.getInt("--port", 7));
        assertEquals(7, o.getInt("--file", 7));
        assertNull(o.get("--file"));
        assertEquals("random", o.get("--policy"));
    }

    @Test
    void badCommandLinesAreNamed() {
        var unknown = assertThrows(IllegalArgumentException.class, () -> NodeOptions.parse(with("--prot", "1")));
        assertEquals("unknown flag: --prot", unknown.getMessage());
        var noValue = assertThrows(IllegalArgumentException.class,
                () -> NodeOptions.parse(with("--port"), "--port"));
        assertEquals("flag --port needs a value", noValue.getMessage());
        var notNumber = assertThrows(IllegalArgumentException.class,
                () -> NodeOptions.parse(with("--port", "seven"), "--port").getInt("--port", 7));
        assertEquals("--port needs a number, not `seven`", notNumber.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> NodeOptions.parse(with("--port", "99999999999"), "--port").getInt("--port", 7));
        assertThrows(NullPointerException.class, () -> NodeOptions.parse(null));
    }

    @Test
    void policiesByNameByNodeAndByClass() {
        assertInstanceOf(RoundRobinPolicy.class, NodeOptions.parse(with("--policy", "round-robin")).policy());
        assertInstanceOf(Mine.class, NodeOptions.parse(with("--policy", Mine.class.getName())).policy());
        GeckoPolicy one = NodeOptions.parse(with("--policy", "node=" + Support.N2.getHostAddress())).policy();
        assertEquals(Support.N2, one.selectTarget(Support.three()));
        ClientInfo n2Down = Support.three(new boolean[] {true, false, true}, new int[] {0, 0, 0},
                new Long[] {null, null, null});
        assertNull(one.selectTarget(n2Down), "an unavailable node keeps the connection here");
        for (String bad : new String[] {"nearest", "node=nowhere.invalid", "node=192.0.2.1", "java.lang.String",
                "dev.gecko.NoSuchPolicy"}) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> NodeOptions.parse(with("--policy", bad)).policy(), bad);
            assertTrue(e.getMessage().contains(bad.startsWith("node=") ? bad.substring(5) : bad), e.getMessage());
        }
    }
}
