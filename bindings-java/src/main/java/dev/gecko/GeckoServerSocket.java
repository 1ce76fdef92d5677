package dev.gecko;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.net.SocketException;
import java.net.SocketTimeoutException;

/**
 * The connections this node serves on one port of the global address: accepted here, or handed in
 * by another node. Made by {@link GeckoFramework#getServerSocket()}; closed by {@link #close()} or with
 * its framework. Thread-safe: several threads may accept at once.
 */
public final class GeckoServerSocket implements AutoCloseable {
    private final long id;
    private final int port;
    private final GeckoFramework framework;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;
    private volatile int soTimeout;

    GeckoServerSocket(long id, GeckoFramework framework) throws IOException {
        this.id = id;
        this.framework = framework;
        this.cleanable = Native.CLEANER.register(this, () -> Native.free(id));
        this.port = Native.serverPort(id);
    }

    /**
     * The next connection this node serves. Blocks until one comes, the timeout set by
     * {@link #setSoTimeout} passes, the thread is interrupted, or the socket is closed (from another
     * thread too).
     *
     * @return the connection
     * @throws SocketTimeoutException when the timeout passed
     * @throws InterruptedIOException when the thread was interrupted (its interrupt status stays set)
     * @throws SocketException when the server socket is closed
     * @throws IOException when the operating system fails
     */
    public GeckoSocket accept() throws IOException {
        try {
            return new GeckoSocket(Native.serverAccept(id), framework);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * How long {@link #accept()} waits.
     *
     * @param timeout milliseconds, 0 for ever (the default)
     * @throws IllegalArgumentException if {@code timeout} is negative
     * @throws SocketException if the server socket is closed
     */
    public void setSoTimeout(int timeout) throws SocketException {
        if (timeout < 0) {
            throw new IllegalArgumentException("timeout can't be negative");
        }
        try {
            Native.serverSetTimeout(id, timeout);
        } catch (SocketException e) {
            throw e;
        } catch (IOException e) {
            throw new SocketException(e.getMessage());
        } finally {
            Reference.reachabilityFence(this);
        }
        soTimeout = timeout;
    }

    /**
     * How long {@link #accept()} waits.
     *
     * @return milliseconds, 0 for ever
     */
    public int getSoTimeout() {
        return soTimeout;
    }

    /**
     * The port served at the global address (also after close).
     *
     * @return the port
     */
    public int getLocalPort() {
        return port;
    }

    /**
     * Whether this server socket is closed, by {@link #close()} or with its framework.
     *
     * @return true once closed
     */
    public boolean isClosed() {
        return closed || framework.isClosed();
    }

    /**
     * Stops serving the port on this node; an {@link #accept()} waiting in another thread ends with a
     * {@link SocketException}. Calling it again does nothing.
     */
    @Override
    public void close() {
        closed = true;
        Native.serverClose(id);
        cleanable.clean();
        framework.forget(this);
    }

    @Override
    public String toString() {
        return "GeckoServerSocket[port=" + port + (isClosed() ? ", closed]" : "]");
    }
}
