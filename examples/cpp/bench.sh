#!/usr/bin/env bash
# Echo throughput over one connection through the C++ example echo_server
# (examples/cpp/echo_server.cpp) against the Rust echo-server
# (examples/rust/echo_server.rs), both on Gecko at [G]:7 on the same node of
# one lab (gk-cppbench: one node, one client), the two alternating round by
# round (after one warm-up run each, not counted; the order flips each
# round). A Python client in the client host sends BYTES (random, no `H`,
# so no handoff), reads the echo back while it sends, and checks its
# SHA-256; MB/s is echoed bytes (10^6) per second from connect to the last
# byte back. Prints each round, the medians and the ratio C++/Rust (the
# target is at least 0.95). The lab is taken down at the end, also on
# failure. Root (network namespaces); the echo is CPU-bound: run it on a
# quiet machine.
#
#   bash examples/cpp/bench.sh [--rounds 5] [--bytes 268435456]
#
# It builds what it runs: the Rust echo-server and gecko-lab (cargo build
# --release), the C++ binding and the examples (build/cpp-bench,
# build/cpp-bench-prefix, build/cpp-bench-examples), unless
# GECKO_CPP_EXAMPLES names a directory that holds echo_server already.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

rounds=5
bytes=$((256 << 20))
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
        --bytes) bytes=${2:?--bytes needs a value}; shift 2 ;;
        *) echo "bench.sh: unknown flag or missing value: $1" >&2; exit 2 ;;
    esac
done
for v in "$rounds" "$bytes"; do
    if ! [[ "$v" =~ ^[1-9][0-9]*$ ]]; then
        echo "bench.sh: --rounds and --bytes need a positive whole number, not \`$v'" >&2
        exit 2
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "bench.sh: needs root (network namespaces)" >&2
    exit 2
fi

# A CI run uses the same cores and labs: wait for it.
while [ -e /tmp/ci-running ]; do
    echo "bench.sh: a CI run is in progress; waiting" >&2
    sleep 30
done

name=gk-cppbench
snap=/tmp/$name-build
target=${CARGO_TARGET_DIR:-$repo/target}

logs=/tmp/$name-logs
rm -rf "$logs"
mkdir -p "$logs"
# The builds' output goes to a log, shown if one fails.
built() {
    "$@" >>"$logs/build.log" 2>&1 || { cat "$logs/build.log" >&2; echo "bench.sh: failed: $*" >&2; exit 1; }
}
built cargo build --release -p gecko-examples --bin echo-server
built cargo build --release -p gecko-lab
if [ -z "${GECKO_CPP_EXAMPLES:-}" ]; then
    built cmake -S bindings-cpp -B build/cpp-bench -DCMAKE_BUILD_TYPE=Release -DGECKO_BUILD_TESTS=OFF
    built cmake --build build/cpp-bench -j2
    built cmake --install build/cpp-bench --prefix "$repo/build/cpp-bench-prefix"
    built cmake -S examples/cpp -B build/cpp-bench-examples -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$repo/build/cpp-bench-prefix"
    built cmake --build build/cpp-bench-examples -j2
    GECKO_CPP_EXAMPLES=$repo/build/cpp-bench-examples
fi
# Copies, so that another build does not change what runs while it runs.
rm -rf "$snap"
mkdir -p "$snap"
cp "$GECKO_CPP_EXAMPLES/echo_server" "$target/release/echo-server" "$target/release/gecko-lab" "$snap/"
lab=$snap/gecko-lab

cat >"$snap/echo_client.py" <<'EOF'
import hashlib, os, socket, sys, threading, time
g, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = bytes(bytearray(os.urandom(1 << 20)).replace(b'H', b'G'))
want = hashlib.sha256()
for i in range(0, total, len(block)):
    want.update(block[:min(len(block), total - i)])
back = bytearray(total)
view = memoryview(back)
s = socket.create_connection((g, port), timeout=60)
t0 = time.perf_counter()
def send():
    left = total
    while left:
        n = min(left, len(block))
        s.sendall(block[:n] if n < len(block) else block)
        left -= n
t = threading.Thread(target=send)
t.start()
got = 0
while got < total:
    n = s.recv_into(view[got:], min(1 << 20, total - got))
    if n == 0:
        break
    got += n
t1 = time.perf_counter()
t.join()
s.close()
ok = got == total and hashlib.sha256(back).digest() == want.digest()
print('echo bytes=%d seconds=%.3f mbps=%.1f sha256=%s' % (got, t1 - t0, got / (t1 - t0) / 1e6, 'ok' if ok else 'MISMATCH'))
sys.exit(0 if ok else 1)
EOF

server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    "$lab" down --name "$name" >/dev/null 2>&1 || echo "bench.sh: gecko-lab down --name $name failed" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

"$lab" down --name "$name" >/dev/null 2>&1 || true
"$lab" up --name "$name" --nodes 1 --clients 1 >"$logs/up.log" 2>&1 || { cat "$logs/up.log" >&2; exit 1; }
"$lab" status --name "$name" --json >"$logs/status.json"
read -r g metrics < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["global_address"], s["hosts"]["node1"]["metrics"])' "$logs/status.json")

# Starts server $1 (cpp or rust) on node1; returns once it serves its metrics and its load settled.
start() {
    local bin=$snap/echo_server
    [ "$1" = rust ] && bin=$snap/echo-server
    "$lab" exec --name "$name" node1 -- "$bin" --policy round-robin --port 7 >>"$logs/$1.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do
        if "$lab" exec --name "$name" node1 -- curl -sf --max-time 2 -o /dev/null "$metrics"; then
            sleep 0.8 # the node reported its load: the policy sees it available
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench.sh: the $1 echo server is not serving:" >&2
    cat "$logs/$1.log" >&2
    exit 1
}

stop() {
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# One client run against server $1: its MB/s in $mbps.
measure() {
    start "$1"
    local out
    if ! out=$("$lab" exec --name "$name" client1 -- timeout 600 python3 "$snap/echo_client.py" "$g" 7 "$bytes" 2>&1) ||
        ! grep -q 'sha256=ok' <<<"$out"; then
        echo "bench.sh: the $1 run failed: $out" >&2
        cat "$logs/$1.log" >&2
        exit 1
    fi
    stop
    mbps=$(sed -n 's/.* mbps=\([0-9.]*\).*/\1/p' <<<"$out")
}

echo "commit $(git rev-parse --short HEAD); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "echo over one connection at [$g]:7, $((bytes >> 20)) MiB a run, SHA-256 checked; $rounds alternating rounds after a warm-up; MB/s:"
printf '  %-10s %10s %10s\n' "" "C++" "Rust"
cpp_all=()
rust_all=()
for round in $(seq 0 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then
        measure cpp; c=$mbps
        measure rust; r=$mbps
    else
        measure rust; r=$mbps
        measure cpp; c=$mbps
    fi
    if [ "$round" = 0 ]; then
        printf '  %-10s %10s %10s\n' "warm-up" "$c" "$r"
    else
        printf '  %-10s %10s %10s\n' "round $round" "$c" "$r"
        cpp_all+=("$c")
        rust_all+=("$r")
    fi
done
python3 - "${cpp_all[*]}" "${rust_all[*]}" <<'EOF'
import statistics, sys
cpp = [float(x) for x in sys.argv[1].split()]
rust = [float(x) for x in sys.argv[2].split()]
mc, mr = statistics.median(cpp), statistics.median(rust)
print('  median     %10.1f %10.1f' % (mc, mr))
print('  ratio C++/Rust (medians) %.3f (target >= 0.95)' % (mc / mr))
EOF
