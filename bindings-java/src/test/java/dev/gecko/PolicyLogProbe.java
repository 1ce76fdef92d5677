package dev.gecko;

import java.net.Inet6Address;

/**
 * Run in a JVM of its own by the tests (Gecko's log goes to its standard error): a throwing policy
 * and one whose notifyFailedHandoff throws, asked from a native thread as the framework asks them.
 */
public final class PolicyLogProbe {
    private PolicyLogProbe() {}

    /** A policy whose selectTarget always throws, from a helper. */
    static final class Boom extends GeckoPolicy {
        @Override
        public Inet6Address selectTarget(ClientInfo client) {
            return helper();
        }

        private Inet6Address helper() {
            throw new IllegalStateException("no such node, on purpose");
        }
    }

    /**
     * Prints the choices (null twice) and the calling threads' names.
     *
     * @param args none
     */
    public static void main(String[] args) {
        GeckoFramework.initLogging(null);
        ClientInfo c = Support.three();
        Inet6Address first = new Boom().callFromCore(c, 1, null);
        Inet6Address second = new Boom().callFromCore(c, 3, null);
        System.out.println(first + " " + second);
    }
}
