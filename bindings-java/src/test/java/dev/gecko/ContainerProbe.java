package dev.gecko;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;

/**
 * Run in a JVM of its own by PolicyTest, with no Gecko class on its class path: loads the API (args[0])
 * and an application (args[1]) through a class loader of their own, as a container does, and prints
 * what the application's policy chose when asked from the core's threads. References no API class
 * itself: the JVM's class loader cannot see them.
 */
public final class ContainerProbe {
    private ContainerProbe() {}

    public static void main(String[] args) throws Exception {
        try {
            Class.forName("dev.gecko.GeckoPolicy", false, ClassLoader.getSystemClassLoader());
            throw new AssertionError("the API is on the JVM's class path");
        } catch (ClassNotFoundException expected) {
            // as in a container
        }
        URL[] urls = {Path.of(args[0]).toUri().toURL(), Path.of(args[1]).toUri().toURL()};
        try (URLClassLoader container = new URLClassLoader("container", urls, ClassLoader.getPlatformClassLoader())) {
            Object policy = container.loadClass("plugin.Third").getDeclaredConstructor().newInstance();
            Class<?> api = container.loadClass("dev.gecko.GeckoPolicy");
            Object chosen = container.loadClass("dev.gecko.ContainerRun").getMethod("run", api).invoke(null, policy);
            System.out.println(chosen);
        }
    }
}
