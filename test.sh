#!/usr/bin/env bash
# Runs every test of the project. Needs root: the lab tests build network
# namespaces. GECKO_FUZZ_SECONDS (default 30) bounds the fuzz run; 0 skips it.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ]; then
  echo "test.sh: run as root (the lab tests need network namespaces)" >&2
  exit 1
fi

# Root-only tests fail rather than report NOT RUN (gecko_netns::root_test).
export GECKO_ROOT_TESTS=required

log=$(mktemp)
# A sanitized C++ run in the background is waited for: its lab comes down
# at its end.
trap 'if [ -n "${asan:-}" ]; then wait "$asan" || true; fi; rm -f "$log" "$log.asan"' EXIT

echo "== unit, property, lab and doc tests"
# The agents' binaries are started by the lab and example tests of other
# packages: cargo builds a binary for its own package's tests only.
cargo build --workspace --bins 2>&1 | tee -a "$log"
cargo test --workspace --all-targets 2>&1 | tee -a "$log"
cargo test --workspace --doc 2>&1 | tee -a "$log"

echo "== Python binding: build and install it (pip, maturin), then pytest"
# pip builds the extension in release mode through maturin (pyproject.toml).
PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --root-user-action=ignore \
  ./bindings-python 2>&1 | tee -a "$log"
# The type stubs (python/gecko/*.pyi) must match the module as built.
python3 -m mypy.stubtest gecko 2>&1 | tee -a "$log"
# Lab tests must run here (root, gecko-lab built above): a skip is a failure.
GECKO_PY_LAB_REQUIRED=1 python3 -m pytest -q -p no:cacheprovider bindings-python/tests \
  2>&1 | tee -a "$log"

echo "== Java binding: the JAR (cargo, javac), unit tests (Surefire), then lab tests (Failsafe)"
# Lab tests must run here (root, gecko-lab built above): a skip is a failure.
GECKO_JAVA_LAB_REQUIRED=1 mvn -B --no-transfer-progress -f bindings-java/pom.xml verify \
  2>&1 | tee -a "$log"

echo "== C++ binding: libgecko.a and its CMake package (cargo, cmake), the examples built"
echo "   against the installed package, unit and lab tests (ctest); then again with ASan and LSan"
cmake -S bindings-cpp -B build/cpp -DCMAKE_BUILD_TYPE=Release 2>&1 | tee -a "$log"
cmake --build build/cpp -j2 2>&1 | tee -a "$log"
rm -rf build/cpp-prefix
cmake --install build/cpp --prefix "$PWD/build/cpp-prefix" 2>&1 | tee -a "$log"
# Exactly as a user's project finds it.
cmake -S examples/cpp -B build/cpp-examples -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PWD/build/cpp-prefix" 2>&1 | tee -a "$log"
cmake --build build/cpp-examples -j2 2>&1 | tee -a "$log"
cmake -S bindings-cpp -B build/cpp-asan -DCMAKE_BUILD_TYPE=Debug -DGECKO_SANITIZE=ON 2>&1 | tee -a "$log"
cmake --build build/cpp-asan -j2 2>&1 | tee -a "$log"
# Lab tests must run here (root, gecko-lab built above): a skip is a failure.
# The plain and the sanitized runs use labs of their own names, side by side.
export GECKO_CPP_EXAMPLES="$PWD/build/cpp-examples" GECKO_CPP_LAB_REQUIRED=1
ASAN_OPTIONS=detect_leaks=1 GECKO_CPP_LAB_NAME=gk-cpp-asan \
  ctest --test-dir build/cpp-asan --output-on-failure >"$log.asan" 2>&1 &
asan=$!
ctest --test-dir build/cpp --output-on-failure 2>&1 | tee -a "$log"
asan_rc=0
wait "$asan" || asan_rc=$?
cat "$log.asan" | tee -a "$log"
rm -f "$log.asan"
[ "$asan_rc" = 0 ] || { echo "C++ tests under ASan/LSan failed" >&2; exit 1; }

echo "== data planes: the core set again with each backend besides auto's"
# The runs above used `auto`. Each other backend this kernel offers runs the
# core set (mid-stream handoffs, flow bindings to two nodes, a crash
# recovery, geckoproxy); each backend it lacks is reported, never skipped
# silently.
doctor=$(cargo run -q -p gecko-lab -- doctor --json || true)
backends=$(python3 -c '
import json, sys
r = json.loads(sys.stdin.read() or "{}")
usable, auto = r.get("usable", []), r.get("auto")
need = {"seg6": ["Seg6Encap", "SrhReception"], "vxlan": ["Vxlan", "Ip6Encap"]}
for b in ("seg6", "vxlan"):
    if b == auto:
        print(b, "auto")
    elif b in usable:
        print(b, "run")
    else:
        missing = r.get("missing", {})
        opts = [missing[f] for f in need[b] if f in missing] or ["the kernel check failed"]
        print(b, "missing", ", ".join(opts))
' <<<"$doctor")
summary=()
while read -r backend state options; do
  case "$state" in
    auto) summary+=("data plane $backend: every test above (auto chose it)") ;;
    run)
      echo "-- core set with GECKO_DATAPLANE=$backend"
      GECKO_DATAPLANE=$backend cargo test -p gecko-lab --test handoff --test mip6 \
        --test agentless -- \
        busy_connections_survive_hundreds_of_mid_stream_handoffs \
        a_flow_binding_moves_one_connection_and_leaves_the_other \
        a_plain_clients_stream_survives_handoffs_every_megabyte 2>&1 | tee -a "$log"
      GECKO_DATAPLANE=$backend cargo test -p gecko-examples --test stream_failover \
        --test proxy_example -- downloads_survive_the_crash_of_a_node \
        http_servers_behind_proxies_serve_every_client_by_the_policy 2>&1 | tee -a "$log"
      summary+=("data plane $backend: the core set") ;;
    *) summary+=("data plane $backend: NOT RUN, this kernel lacks $options") ;;
  esac
done <<<"$backends"

echo "== fuzz: the Mobility Header parser"
fuzz_seconds=${GECKO_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" = 0 ]; then
  echo "fuzz: skipped (GECKO_FUZZ_SECONDS=0)"
elif cargo +nightly fuzz --version >/dev/null 2>&1; then
  # Seeds hold valid messages, so the run starts from deep structure.
  (cd core/fuzz && mkdir -p corpus/mh_parse &&
    cargo +nightly fuzz run mh_parse corpus/mh_parse seeds/mh_parse -- \
      -max_total_time="$fuzz_seconds" -print_final_stats=1)
else
  echo "fuzz: skipped (needs the nightly toolchain and 'cargo install cargo-fuzz')"
fi

printf '%s\n' "${summary[@]}"

# One line for all cargo test, pytest, Maven and ctest runs (a failure stops the script
# before this).
awk '/^test result:/ { p += $4; f += $6 }
     /Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$/ {
       split($0, n, /[^0-9]+/); p += n[2] - n[3] - n[4] - n[5]; f += n[3] + n[4] }
     / in [0-9.]+s/ { for (i = 2; i <= NF; i++) if ($i ~ /^passed,?$/) p += $(i - 1) }
     /tests passed, [0-9]+ tests? failed out of [0-9]+$/ { p += $NF - $4; f += $4 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
