package dev.gecko;

/**
 * Where a connection's two streams stand, counted since it opened on whichever nodes served it.
 *
 * @param sent bytes this side sent that the client has acknowledged
 * @param received bytes received from the client, in order
 */
public record StreamOffsets(long sent, long received) {
    /** From the native library's {@code long[2]}, or null. */
    static StreamOffsets fromNative(long[] offsets) {
        return offsets == null ? null : new StreamOffsets(offsets[0], offsets[1]);
    }
}
