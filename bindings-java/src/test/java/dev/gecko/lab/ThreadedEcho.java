package dev.gecko.lab;

import dev.gecko.GeckoFramework;
import dev.gecko.GeckoServerSocket;
import dev.gecko.GeckoSocket;
import dev.gecko.NodeOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * THREADS Java threads accepting and echoing through one framework until TOTAL connections were served;
 * the thread that serves the last closes the server socket, which ends the other threads' accepts. Then
 * the framework closes and the program prints the live native handles, which must be none. Exit 0 when
 * every connection was served without an error, no thread hung, and no handle is left.
 *
 * <p>Usage (in a node): {@code java -cp JAR:test-classes dev.gecko.lab.ThreadedEcho THREADS TOTAL}.
 */
public final class ThreadedEcho {
    private ThreadedEcho() {}

    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        int total = Integer.parseInt(args[1]);
        AtomicInteger served = new AtomicInteger();
        AtomicInteger acceptsEndedByClose = new AtomicInteger();
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        List<Thread> workers = new ArrayList<>();
        KeepHere policy;
        try (GeckoFramework framework = NodeOptions.parse(new String[] {"--policy", KeepHere.class.getName()}).start()) {
            policy = (KeepHere) framework.getPolicy();
            GeckoServerSocket server = framework.getServerSocket();
            for (int i = 0; i < threads; i++) {
                Thread t = new Thread(() -> {
                    while (true) {
                        GeckoSocket socket;
                        try {
                            socket = server.accept();
                        } catch (SocketException e) {
                            if (server.isClosed()) {
                                acceptsEndedByClose.incrementAndGet();
                            } else {
                                errors.add(e);
                            }
                            return;
                        } catch (IOException | RuntimeException e) {
                            errors.add(e);
                            return;
                        }
                        try (socket) {
                            InputStream in = socket.getInputStream();
                            OutputStream out = socket.getOutputStream();
                            byte[] buf = new byte[4096];
                            for (int n; (n = in.read(buf)) > 0; ) {
                                out.write(buf, 0, n);
                            }
                        } catch (IOException | RuntimeException e) {
                            errors.add(e);
                        }
                        if (served.incrementAndGet() == total) {
                            server.close();
                        }
                    }
                }, "echo-" + i);
                workers.add(t);
                t.start();
            }
            System.out.println("serving with " + threads + " threads");
            for (Thread t : workers) {
                t.join(600_000);
            }
            for (Thread t : workers) {
                if (t.isAlive()) {
                    System.out.println("hung: " + t.getName());
                    for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
                        System.out.println(e.getKey() + " " + List.of(e.getValue()));
                    }
                    System.exit(2);
                }
            }
        }
        for (Throwable e : errors) {
            e.printStackTrace(System.out);
        }
        long live = GeckoFramework.liveNativeHandles();
        System.out.println("served " + served + " errors " + errors.size() + " accepts-ended-by-close "
                + acceptsEndedByClose + " policy-calls " + policy.calls + " live " + live);
        System.exit(errors.isEmpty() && served.get() == total && live == 0 ? 0 : 1);
    }
}
