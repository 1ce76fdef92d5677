package dev.gecko;

import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Arrays;

/** Addresses between Java and the native library: an IPv6 address is its 16 bytes. */
final class Inet {
    private Inet() {}

    /** The address of 16 bytes, without a scope (never an {@code Inet4Address}). */
    static Inet6Address of(byte[] bytes) {
        try {
            return Inet6Address.getByAddress(null, bytes, -1);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("not an IPv6 address: " + bytes.length + " bytes", e);
        }
    }

    /** A socket address of 18 bytes: 16 of address, the port big-endian. */
    static InetSocketAddress socketAddress(byte[] bytes) {
        int port = ((bytes[16] & 0xff) << 8) | (bytes[17] & 0xff);
        return new InetSocketAddress(of(Arrays.copyOf(bytes, 16)), port);
    }
}
