package dev.gecko.lab;

import dev.gecko.GeckoFramework;
import dev.gecko.GeckoServerSocket;
import dev.gecko.GeckoSocket;
import dev.gecko.MovedException;
import dev.gecko.NodeOptions;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.InputStreamReader;
import java.io.InterruptedIOException;
import java.io.OutputStreamWriter;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The Java API inside a node, against the client script {@link LabIT#CHECKS_CLIENT} (one connection per
 * check, in this order): accept's timeout, interrupt and close from another thread on a port no client
 * uses; then java.io streams (BufferedReader, DataInputStream, transferTo), direct ByteBuffers, a read
 * ended by close from another thread, a handoff to a named node, and use after the framework closed.
 * Prints {@code ok NAME} per check and {@code live N} at the end; exits 1 at the first failure.
 *
 * <p>Usage (in a node): {@code java -cp JAR:test-classes dev.gecko.lab.NodeChecks TARGET_NODE_ADDRESS}.
 */
public final class NodeChecks {
    private NodeChecks() {}

    /** A check that may throw. */
    interface Check {
        void run() throws Exception;
    }

    static void check(String name, Check c) {
        try {
            c.run();
            System.out.println("ok " + name);
        } catch (Throwable e) {
            System.out.println("FAIL " + name + ": " + e);
            e.printStackTrace(System.out);
            System.exit(1);
        }
    }

    static void expect(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    /** Runs {@code body} in a new thread, then {@code then} 300 ms later; what {@code body} threw. */
    static Throwable endedFromAnotherThread(Check body, Check then) throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        t.start();
        Thread.sleep(300);
        expect(t.isAlive(), "the call did not wait");
        then.run();
        t.join(10_000);
        expect(!t.isAlive(), "the call did not end");
        return thrown.get();
    }

    public static void main(String[] args) throws Exception {
        Inet6Address target = (Inet6Address) InetAddress.getByName(args[0]);
        GeckoFramework framework = NodeOptions.parse(new String[] {"--policy", KeepHere.class.getName()}).start();
        GeckoServerSocket quiet = framework.getServerSocket(9);
        GeckoServerSocket server = framework.getServerSocket();

        check("accept-timeout", () -> {
            quiet.setSoTimeout(200);
            try {
                quiet.accept();
                throw new AssertionError("accepted");
            } catch (SocketTimeoutException expected) {
                // as ServerSocket's
            }
            quiet.setSoTimeout(0);
        });
        check("accept-interrupted", () -> {
            AtomicReference<Boolean> stillInterrupted = new AtomicReference<>();
            Thread[] self = new Thread[1];
            Throwable e = endedFromAnotherThread(() -> {
                self[0] = Thread.currentThread();
                try {
                    quiet.accept();
                } finally {
                    stillInterrupted.set(Thread.currentThread().isInterrupted());
                }
            }, () -> self[0].interrupt());
            expect(e instanceof InterruptedIOException, "threw " + e);
            expect(stillInterrupted.get(), "the interrupt status was cleared");
        });
        check("accept-closed", () -> {
            Throwable e = endedFromAnotherThread(quiet::accept, quiet::close);
            expect(e instanceof SocketException, "threw " + e);
            expect(quiet.isClosed(), "not closed");
            quiet.close();
            try {
                quiet.accept();
                throw new AssertionError("accepted on a closed server socket");
            } catch (SocketException expected) {
                // closed
            }
        });

        check("buffered-reader", () -> {
            try (GeckoSocket s = server.accept()) {
                var in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                var out = new BufferedWriter(new OutputStreamWriter(s.getOutputStream(), StandardCharsets.UTF_8));
                long sum = 0;
                for (String line; !(line = in.readLine()).equals("end"); ) {
                    sum += Long.parseLong(line);
                }
                out.write("sum " + sum + "\n");
                out.flush();
            }
        });
        check("data-streams", () -> {
            try (GeckoSocket s = server.accept()) {
                var in = new DataInputStream(s.getInputStream());
                var out = new DataOutputStream(s.getOutputStream());
                int length = in.readInt();
                long tag = in.readLong();
                byte[] payload = new byte[length];
                in.readFully(payload);
                out.write(MessageDigest.getInstance("SHA-256").digest(payload));
                out.writeLong(tag + length);
                out.flush();
            }
        });
        check("direct-buffers", () -> {
            try (GeckoSocket s = server.accept()) {
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 16);
                while (s.read(buf) > 0) {
                    buf.flip();
                    while (buf.hasRemaining()) {
                        s.write(buf);
                    }
                    buf.clear();
                }
            }
        });
        check("transfer-to", () -> {
            try (GeckoSocket s = server.accept()) {
                s.getInputStream().transferTo(s.getOutputStream());
            }
        });
        check("read-ended-by-close", () -> {
            GeckoSocket s = server.accept();
            Throwable e = endedFromAnotherThread(() -> s.read(new byte[16], 0, 16), s::close);
            expect(e instanceof SocketException && e.getMessage().equals("Socket closed"), "threw " + e);
            expect(s.isClosed(), "not closed");
        });
        check("handoff-to-target", () -> {
            try (GeckoSocket s = server.accept()) {
                expect(s.handoff(target, false), "not moved");
                expect(s.isMoved(), "isMoved false");
                try {
                    s.read(new byte[1], 0, 1);
                    throw new AssertionError("read after the handoff");
                } catch (MovedException expected) {
                    // served by the target now
                }
            }
        });
        check("framework-closed", () -> {
            GeckoSocket s = server.accept();
            framework.close();
            framework.close();
            expect(server.isClosed(), "its server socket is open");
            try {
                server.accept();
                throw new AssertionError("accepted after the framework closed");
            } catch (SocketException expected) {
                // closed with the framework
            }
            try {
                framework.getServerSocket(10);
                throw new AssertionError("a server socket of a closed framework");
            } catch (IllegalStateException expected) {
                // closed
            }
            try {
                framework.setPolicy(new KeepHere());
                throw new AssertionError("a policy for a closed framework");
            } catch (IllegalStateException expected) {
                // closed
            }
            // Connections already accepted stay open.
            s.getOutputStream().write("still here\n".getBytes(StandardCharsets.US_ASCII));
            s.close();
            s.close();
            try {
                s.read(new byte[1], 0, 1);
                throw new AssertionError("read after close");
            } catch (SocketException expected) {
                expect(expected.getMessage().equals("Socket is closed"), expected.getMessage());
            }
        });
        long live = GeckoFramework.liveNativeHandles();
        System.out.println("live " + live);
        System.exit(live == 0 ? 0 : 1);
    }
}
