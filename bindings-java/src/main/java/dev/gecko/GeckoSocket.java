package dev.gecko;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.channels.IllegalBlockingModeException;
import java.util.Objects;
import java.util.Optional;

/**
 * One client connection served by this node, which may move to another node ({@link #handoff()}) and
 * survives the crash of the node serving it ({@link #recovered()}). Reads and writes as a
 * {@code java.net.Socket}'s, through its streams or directly, also on {@link ByteBuffer}s.
 *
 * <p>One thread may read while another writes. Closed by {@link #close()}, or by a {@link Cleaner} once
 * unreachable; a closed socket throws {@link SocketException} ("Socket is closed").
 */
public final class GeckoSocket implements AutoCloseable {
    private final long id;
    private final GeckoFramework framework;
    private final Cleaner.Cleanable cleanable;
    private final boolean handedIn;
    private final StreamOffsets recovered;
    private final InetSocketAddress remote;
    private final InetSocketAddress local;
    private final InputStream in = new In();
    private final OutputStream out = new Out();
    private volatile boolean closed;
    private volatile int soTimeout;
    private volatile boolean blocking = true;

    GeckoSocket(long id, GeckoFramework framework) throws IOException {
        this.id = id;
        this.framework = framework;
        this.cleanable = Native.CLEANER.register(this, () -> Native.free(id));
        this.handedIn = Native.socketHandedIn(id);
        this.recovered = StreamOffsets.fromNative(Native.socketRecovered(id));
        this.remote = Inet.socketAddress(Native.socketPeer(id));
        this.local = Inet.socketAddress(Native.socketLocal(id));
    }

    /**
     * The stream of bytes from the client: {@code read} returns -1 once the client closed its side.
     * Closing it closes the socket. Needs blocking mode.
     *
     * @return the same stream every time
     */
    public InputStream getInputStream() {
        return in;
    }

    /**
     * The stream of bytes to the client; its {@code write} writes everything. Closing it closes the
     * socket. Needs blocking mode.
     *
     * @return the same stream every time
     */
    public OutputStream getOutputStream() {
        return out;
    }

    /**
     * Reads up to {@code len} bytes into {@code b[off..]}.
     *
     * @param b the buffer
     * @param off where in {@code b}
     * @param len at most this many bytes
     * @return how many were read; -1 once the client closed its side; 0 if {@code len} is 0 or the
     *     socket is non-blocking and has nothing now
     * @throws java.net.SocketTimeoutException after the timeout of {@link #setSoTimeout}
     * @throws MovedException if another node serves the connection now
     * @throws SocketException if the socket is closed or the connection failed
     * @throws IOException on another failure of the operating system
     */
    public int read(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        return io(() -> Native.socketRead(id, b, off, len));
    }

    /**
     * Writes some of {@code b[off..off+len]}.
     *
     * @param b the bytes
     * @param off where in {@code b}
     * @param len at most this many bytes
     * @return how many were written (0 if the socket is non-blocking and cannot take any now)
     * @throws java.net.SocketTimeoutException after the timeout of {@link #setSoTimeout}
     * @throws MovedException if another node serves the connection now
     * @throws SocketException if the socket is closed or the connection failed
     * @throws IOException on another failure of the operating system
     */
    public int write(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        return io(() -> Native.socketWrite(id, b, off, len));
    }

    /**
     * Reads into {@code dst} from its position (a direct buffer without a copy), advancing it.
     *
     * @param dst the buffer
     * @return as {@link #read(byte[], int, int)}
     * @throws ReadOnlyBufferException if {@code dst} is read-only
     * @throws IOException as {@link #read(byte[], int, int)}
     */
    public int read(ByteBuffer dst) throws IOException {
        if (dst.isReadOnly()) {
            throw new ReadOnlyBufferException();
        }
        int pos = dst.position();
        int n = io(() -> dst.isDirect()
                ? Native.socketReadDirect(id, dst, pos, dst.remaining())
                : Native.socketRead(id, dst.array(), dst.arrayOffset() + pos, dst.remaining()));
        if (n > 0) {
            dst.position(pos + n);
        }
        return n;
    }

    /**
     * Writes some of {@code src} from its position (a direct buffer without a copy), advancing it.
     *
     * @param src the bytes
     * @return as {@link #write(byte[], int, int)}
     * @throws IOException as {@link #write(byte[], int, int)}
     */
    public int write(ByteBuffer src) throws IOException {
        int pos = src.position();
        int n = io(() -> {
            if (src.isDirect()) {
                return Native.socketWriteDirect(id, src, pos, src.remaining());
            } else if (src.hasArray()) {
                return Native.socketWrite(id, src.array(), src.arrayOffset() + pos, src.remaining());
            }
            byte[] copy = new byte[src.remaining()];
            src.duplicate().get(copy);
            return Native.socketWrite(id, copy, 0, copy.length);
        });
        if (n > 0) {
            src.position(pos + n);
        }
        return n;
    }

    /**
     * Hands the connection to the node the policy chooses, and waits for the outcome.
     *
     * @return true once served there (this socket is then done: reads and writes throw
     *     {@link MovedException}); false when it stays here (the policy kept it, or every attempt failed)
     * @throws IOException as {@link #handoff(Inet6Address, boolean)}
     */
    public boolean handoff() throws IOException {
        return handoff(null, false);
    }

    /**
     * Hands the connection to the node the policy chooses.
     *
     * @param nonblocking true: return at once and hand off in the background
     * @return as {@link #handoff(Inet6Address, boolean)}
     * @throws IOException as {@link #handoff(Inet6Address, boolean)}
     */
    public boolean handoff(boolean nonblocking) throws IOException {
        return handoff(null, nonblocking);
    }

    /**
     * Hands the connection to {@code target}, or to the policy's choice if null.
     *
     * @param target a node's address, or null for the policy's choice
     * @param nonblocking true: return true at once and hand off in the background
     * @return true once served elsewhere; false when it stays here
     * @throws HandoffException if a handoff to {@code target} failed (the connection stays here), or
     *     one of this connection is running already
     * @throws IllegalStateException if the distributed server does not serve this connection
     * @throws SocketException if the socket is closed
     * @throws IOException on another failure
     */
    public boolean handoff(Inet6Address target, boolean nonblocking) throws IOException {
        try {
            return Native.socketHandoff(id, target == null ? null : target.getAddress(), nonblocking);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The client's address and port (also after close).
     *
     * @return the address
     */
    public InetSocketAddress getRemoteSocketAddress() {
        return remote;
    }

    /**
     * The global address and the port served (also after close).
     *
     * @return the address
     */
    public InetSocketAddress getLocalSocketAddress() {
        return local;
    }

    /**
     * How long reads wait before {@link java.net.SocketTimeoutException}, as {@code java.net.Socket}'s;
     * blocking writes wait until the client takes the bytes.
     *
     * @param timeout milliseconds, 0 for ever (the default)
     * @throws IllegalArgumentException if {@code timeout} is negative
     * @throws SocketException if the socket is closed
     */
    public synchronized void setSoTimeout(int timeout) throws SocketException {
        if (timeout < 0) {
            throw new IllegalArgumentException("timeout can't be negative");
        }
        apply(timeout, blocking);
        soTimeout = timeout;
    }

    /**
     * How long reads wait.
     *
     * @return milliseconds, 0 for ever
     */
    public int getSoTimeout() {
        return soTimeout;
    }

    /**
     * Blocking (the default) or non-blocking reads and writes: non-blocking ones return 0 when they
     * would wait (also while a non-blocking handoff runs). The streams need blocking mode.
     *
     * @param blocking true to block
     * @throws SocketException if the socket is closed
     */
    public synchronized void setBlocking(boolean blocking) throws SocketException {
        apply(soTimeout, blocking);
        this.blocking = blocking;
    }

    private void apply(int timeout, boolean block) throws SocketException {
        try {
            Native.socketSetTimeout(id, timeout, block);
        } catch (SocketException e) {
            throw e;
        } catch (IOException e) {
            throw new SocketException(e.getMessage());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Whether reads and writes block.
     *
     * @return true unless {@link #setBlocking} made it non-blocking
     */
    public boolean isBlocking() {
        return blocking;
    }

    /**
     * Where the streams stand, counted since the connection opened on whichever nodes served it.
     *
     * @return bytes sent (acknowledged by the client) and received
     * @throws SocketException if the socket is closed
     * @throws IOException if the operating system fails
     */
    public StreamOffsets position() throws IOException {
        try {
            return StreamOffsets.fromNative(Native.socketPosition(id));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * For a connection recovered after the node serving it crashed: where to resume the streams
     * (or {@link #reset()} it).
     *
     * @return the offsets, or empty for a connection that was not recovered
     */
    public Optional<StreamOffsets> recovered() {
        return Optional.ofNullable(recovered);
    }

    /**
     * Whether the connection came from another node by a handoff.
     *
     * @return true if handed in
     */
    public boolean isHandedIn() {
        return handedIn;
    }

    /**
     * Whether another node serves the connection now.
     *
     * @return true once moved
     * @throws SocketException if the socket is closed
     */
    public boolean isMoved() throws IOException {
        try {
            return Native.socketMoved(id);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Whether {@link #close()} or {@link #reset()} ran.
     *
     * @return true once closed
     */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Closes the connection with a reset (for a recovered connection the application cannot resume).
     *
     * @throws SocketException if the socket is closed already
     */
    public void reset() throws IOException {
        try {
            Native.socketReset(id);
        } finally {
            closed = true;
            cleanable.clean();
        }
    }

    /**
     * Closes the connection (a FIN to the client, unless it was handed off). Reads and writes blocked
     * in other threads end with {@link SocketException} ("Socket closed"). Calling it again does
     * nothing.
     */
    @Override
    public void close() {
        closed = true;
        Native.socketClose(id);
        cleanable.clean();
    }

    @Override
    public String toString() {
        return "GeckoSocket[remote=" + remote + ", local=" + local + (closed ? ", closed]" : "]");
    }

    /** A native read or write. */
    @FunctionalInterface
    private interface NativeIo {
        int call() throws IOException;
    }

    /**
     * Runs a read or write; one that {@link #close()} from another thread ended throws as
     * {@code java.net.Socket}'s does.
     */
    private int io(NativeIo op) throws IOException {
        int n;
        try {
            n = op.call();
        } catch (IOException e) {
            // A SocketException says "closed" already; a move is not a close.
            if (closed && !(e instanceof SocketException) && !(e instanceof MovedException)) {
                SocketException ended = new SocketException("Socket closed");
                ended.initCause(e);
                throw ended;
            }
            throw e;
        } finally {
            Reference.reachabilityFence(this);
        }
        if (n < 0 && closed) {
            throw new SocketException("Socket closed");
        }
        return n;
    }

    /** The framework whose runtime serves this connection. */
    GeckoFramework framework() {
        return framework;
    }

    private void needBlocking() {
        if (!blocking) {
            throw new IllegalBlockingModeException();
        }
    }

    /** {@link #getInputStream()}. */
    private final class In extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n <= 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            needBlocking();
            return GeckoSocket.this.read(b, off, len);
        }

        @Override
        public void close() {
            GeckoSocket.this.close();
        }
    }

    /** {@link #getOutputStream()}. */
    private final class Out extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            needBlocking();
            while (len > 0) {
                int n = GeckoSocket.this.write(b, off, len);
                if (n <= 0) {
                    throw new SocketException("the connection took no bytes");
                }
                off += n;
                len -= n;
            }
        }

        @Override
        public void close() {
            GeckoSocket.this.close();
        }
    }
}
