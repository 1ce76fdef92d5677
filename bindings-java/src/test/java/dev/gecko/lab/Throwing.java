package dev.gecko.lab;

import dev.gecko.ClientInfo;
import dev.gecko.GeckoPolicy;
import java.net.Inet6Address;

/** A policy whose selectTarget always throws (the lab tests load it into EchoServer.java). */
public final class Throwing extends GeckoPolicy {
    /** Made by EchoServer.java's {@code --policy dev.gecko.lab.Throwing}. */
    public Throwing() {}

    @Override
    public Inet6Address selectTarget(ClientInfo client) {
        throw new IllegalStateException("policy failure on purpose");
    }
}
