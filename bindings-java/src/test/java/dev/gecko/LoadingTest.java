package dev.gecko;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class LoadingTest {
    @Test
    void platformsAreNamedAsTheResourcesAre() {
        assertEquals("linux-x86_64", Native.platform("Linux", "amd64"));
        assertEquals("linux-x86_64", Native.platform("Linux", "x86_64"));
        assertEquals("linux-aarch64", Native.platform("Linux", "aarch64"));
        assertEquals("macos-aarch64", Native.platform("Mac OS X", "aarch64"));
        assertEquals("windows-x86_64", Native.platform("Windows 11", "amd64"));
        assertEquals("/native/linux-x86_64/libgecko_java.so", Native.resourceFor("linux-x86_64"));
    }

    @Test
    void anUnsupportedPlatformNamesItselfAndTheProperty() {
        String m = Native.unsupported("plan9-mips").getMessage();
        assertTrue(m.contains("plan9-mips"), m);
        assertTrue(m.contains("-Dgecko.library.path="), m);
    }

    @Test
    void theLibraryIsBundledAndLoads() throws Exception {
        assertNotNull(Native.class.getResource(Native.resourceFor("linux-x86_64")));
        assertTrue(GeckoFramework.liveNativeHandles() >= 0);
        // A fresh JVM extracts it to a temporary file and leaves none behind.
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        long before = count(tmp);
        Support.Run r = Support.java(List.of(), LoadProbe.class);
        assertEquals(0, r.exit(), r.stderr());
        assertEquals("live 0", r.stdout().strip());
        assertEquals(before, count(tmp), "a temporary library file was left behind");
    }

    @Test
    void theLibraryPathPropertyNamesTheFileToLoad() throws Exception {
        Path lib = Path.of(Native.class.getResource(Native.resourceFor("linux-x86_64")).toURI());
        Support.Run ok = Support.java(List.of("-Dgecko.library.path=" + lib), LoadProbe.class);
        assertEquals(0, ok.exit(), ok.stderr());
        Support.Run bad = Support.java(List.of("-Dgecko.library.path=/nonexistent/libgecko_java.so"), LoadProbe.class);
        assertNotEquals(0, bad.exit());
        assertTrue(bad.stderr().contains("UnsatisfiedLinkError"), bad.stderr());
        assertTrue(bad.stderr().contains("/nonexistent/libgecko_java.so"), bad.stderr());
    }

    private static long count(Path dir) throws Exception {
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("gecko_java-")).count();
        }
    }
}
