package dev.gecko.lab;

import dev.gecko.ClientInfo;
import dev.gecko.GeckoPolicy;
import java.net.Inet6Address;
import java.util.concurrent.atomic.AtomicInteger;

/** Keeps every connection on its node: a Java policy, so that each choice is a call from the core's threads into Java. */
public final class KeepHere extends GeckoPolicy {
    /** How many times the core asked. */
    final AtomicInteger calls = new AtomicInteger();

    @Override
    public Inet6Address selectTarget(ClientInfo client) {
        calls.incrementAndGet();
        return null;
    }
}
