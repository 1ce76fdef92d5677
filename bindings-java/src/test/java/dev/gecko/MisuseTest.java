package dev.gecko;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.SocketException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/**
 * Misuse of the native layer never crashes the JVM: ids of closed or never-made handles, handles of
 * the wrong kind, null arguments, bad ranges, double frees. Each throws the exception a Java
 * programmer expects.
 */
class MisuseTest {
    /** An id no handle has. */
    private static final long NONE = Long.MAX_VALUE - 7;

    @Test
    void aClosedOrUnknownSocketIsSocketExceptionSocketIsClosed() {
        byte[] b = new byte[8];
        SocketException e = assertThrows(SocketException.class, () -> Native.socketRead(NONE, b, 0, 8));
        assertEquals("Socket is closed", e.getMessage());
        assertThrows(SocketException.class, () -> Native.socketWrite(NONE, b, 0, 8));
        assertThrows(SocketException.class, () -> Native.socketReadDirect(NONE, ByteBuffer.allocateDirect(8), 0, 8));
        assertThrows(SocketException.class, () -> Native.socketHandoff(NONE, null, false));
        assertThrows(SocketException.class, () -> Native.socketPosition(NONE));
        assertThrows(SocketException.class, () -> Native.socketMoved(NONE));
        assertThrows(SocketException.class, () -> Native.socketPeer(NONE));
        assertThrows(SocketException.class, () -> Native.socketSetTimeout(NONE, 0, true));
        assertThrows(SocketException.class, () -> Native.socketReset(NONE));
        assertThrows(SocketException.class, () -> Native.serverAccept(NONE));
        assertThrows(SocketException.class, () -> Native.serverPort(NONE));
        // Closing what is closed does nothing.
        Native.socketClose(NONE);
        Native.serverClose(NONE);
        Native.frameworkClose(NONE);
        Native.free(NONE);
        Native.free(NONE);
    }

    @Test
    void aClosedFrameworkIsIllegalState() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Native.frameworkLocalAddress(NONE));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> Native.frameworkServerSocket(NONE, -1));
        assertThrows(IllegalStateException.class, () -> Native.frameworkJoin(NONE));
        assertThrows(IllegalStateException.class, () -> Native.frameworkSetSplitHandoff(NONE, true));
    }

    @Test
    void aHandleOfAnotherKindIsNoHandle() {
        long policy = Native.policyShipped("random");
        try {
            assertThrows(SocketException.class, () -> Native.socketRead(policy, new byte[1], 0, 1));
            assertThrows(IllegalStateException.class, () -> Native.frameworkGlobalAddress(policy));
        } finally {
            Native.free(policy);
        }
        assertThrows(IllegalStateException.class, () -> Native.policySelect(policy, Support.three().toNative()));
    }

    @Test
    void nullsAndBadRangesAreJavaExceptions() {
        assertThrows(NullPointerException.class, () -> Native.frameworkNew(null, "x", "lo"));
        assertThrows(NullPointerException.class, () -> Native.frameworkNew(new byte[16], null, "lo"));
        assertThrows(IllegalArgumentException.class, () -> Native.frameworkNew(new byte[4], "x", "lo"));
        assertThrows(NullPointerException.class, () -> Native.socketRead(NONE, null, 0, 1));
        assertThrows(NullPointerException.class, () -> Native.socketReadDirect(NONE, null, 0, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> Native.socketRead(NONE, new byte[4], 2, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> Native.socketWrite(NONE, new byte[4], -1, 1));
        assertThrows(IllegalArgumentException.class, () -> Native.serverSetTimeout(NONE, -1));
        assertThrows(NullPointerException.class, () -> Native.policyShipped(null));
        assertThrows(NullPointerException.class, () -> Native.policyJava(null, "x"));
        long random = Native.policyShipped("random");
        try {
            // A client array of a length no client has, and none.
            assertThrows(IllegalArgumentException.class, () -> Native.policySelect(random, new byte[40]));
            assertThrows(NullPointerException.class, () -> Native.policySelect(random, null));
        } finally {
            Native.free(random);
        }
        assertThrows(NullPointerException.class, () -> new NodeInfo(null, 0, null, true));
        assertThrows(IllegalArgumentException.class, () -> new NodeInfo(Support.N1, -1, null, true));
        assertThrows(IllegalArgumentException.class, () -> new ClientInfo(Support.N1, 70000, Support.N1, java.util.List.of()));
    }

    @Test
    void forgottenPoliciesAreFreedByTheCleaner() throws InterruptedException {
        long before = GeckoFramework.liveNativeHandles();
        for (int i = 0; i < 1000; i++) {
            new RoundRobinPolicy().selectTarget(Support.three());
        }
        assertTrue(GeckoFramework.liveNativeHandles() > before);
        long deadline = System.nanoTime() + 20_000_000_000L;
        // Other tests' forgotten handles may be freed meanwhile too: at most as many as before.
        while (GeckoFramework.liveNativeHandles() > before && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        assertTrue(GeckoFramework.liveNativeHandles() <= before, "live " + GeckoFramework.liveNativeHandles());
    }
}
