package dev.gecko;

/** Run in a JVM of its own by the tests: loads the library, prints how many native handles are live. */
public final class LoadProbe {
    private LoadProbe() {}

    /**
     * Prints {@code live N}.
     *
     * @param args none
     */
    public static void main(String[] args) {
        System.out.println("live " + GeckoFramework.liveNativeHandles());
    }
}
