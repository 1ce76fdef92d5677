#!/usr/bin/env bash
# The Java binding's benchmarks (issue 17): the cost of a policy call written in Java beside the
# shipped Rust policy's (dev.gecko.PolicyBench), and echo throughput over one connection through
# examples/java/EchoServer.java on Gecko against a plain java.net.ServerSocket echo server on the
# same lab hosts (dev.gecko.lab.EchoBench; root: lab gk-jbench, one node, one client).
#
#   bash bindings-java/bench.sh [ECHO_FLAGS...]    # e.g. --rounds 5 --bytes 268435456
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# A CI run uses the same cores and labs: wait for it.
while [ -e /tmp/ci-running ]; do
    echo "bench.sh: a CI run is in progress; waiting" >&2
    sleep 30
done

# The JAR (with the native library, release), the test classes and the Java programs the lab runs,
# copied while the lock is held: Maven runs serialised, and another build (or edit) may change them
# while the benchmarks run.
snap=/tmp/gk-jbench-build
flock /tmp/java-build.lock bash -c "
    mvn -q -B --no-transfer-progress -f bindings-java/pom.xml -DskipTests package &&
    rm -rf $snap && mkdir -p $snap &&
    cp bindings-java/target/gecko-0.1.0.jar bindings-java/bench/*.java examples/java/EchoServer.java $snap/ &&
    cp -r bindings-java/target/test-classes $snap/"
# The lab tool (release; it is its own daemons too), copied as well, and named by GECKO_LAB so no other
# build of it is taken instead.
cargo build -q --release -p gecko-lab
cp "${CARGO_TARGET_DIR:-$repo/target}/release/gecko-lab" $snap/
export GECKO_LAB=$snap/gecko-lab
# EchoBench takes its lab down however it ends, short of a signal: this does it then.
trap '"$GECKO_LAB" down --name gk-jbench >/dev/null 2>&1 || true' EXIT

# The test class path without Maven: the JAR, the test classes and Jackson (the lab's JSON).
m2="${MAVEN_REPO:-$HOME/.m2/repository}/com/fasterxml/jackson/core"
jackson=$(printf '%s:' "$m2"/jackson-databind/2.17.2/*.jar "$m2"/jackson-core/2.17.2/*.jar \
    "$m2"/jackson-annotations/2.17.2/*.jar)
cp="$snap/gecko-0.1.0.jar:$snap/test-classes:$jackson"

cd bindings-java # Lab.REPO is the parent of the working directory
echo "commit $(git rev-parse --short HEAD); load average: $(cut -d" " -f1-3 /proc/loadavg) (the echo is CPU-bound: run it on a quiet machine)"
echo "== policy call (dev.gecko.PolicyBench)"
java -cp "$cp" dev.gecko.PolicyBench
echo
echo "== echo throughput (dev.gecko.lab.EchoBench, lab gk-jbench)"
java -cp "$cp" -Dgecko.jar="$snap/gecko-0.1.0.jar" -Dgecko.bench.sources="$snap" dev.gecko.lab.EchoBench "$@"
