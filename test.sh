#!/usr/bin/env bash
# Runs every test of the project. Needs root: the lab tests build network
# namespaces. GECKO_FUZZ_SECONDS (default 30) bounds the fuzz run; 0 skips it.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ]; then
  echo "test.sh: run as root (the lab tests need network namespaces)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== unit, property, lab and doc tests"
cargo test --workspace --all-targets 2>&1 | tee -a "$log"
cargo test --workspace --doc 2>&1 | tee -a "$log"

echo "== Python binding: build and install it (pip, maturin), then pytest"
# pip builds the extension in release mode through maturin (pyproject.toml).
PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --root-user-action=ignore \
  ./bindings-python 2>&1 | tee -a "$log"
# Lab tests must run here (root, gecko-lab built above): a skip is a failure.
GECKO_PY_LAB_REQUIRED=1 python3 -m pytest -q -p no:cacheprovider bindings-python/tests \
  2>&1 | tee -a "$log"

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

# One line for all cargo test and pytest runs (a failure stops the script
# before this).
awk '/^test result:/ { p += $4; f += $6 }
     / in [0-9.]+s/ { for (i = 2; i <= NF; i++) if ($i ~ /^passed,?$/) p += $(i - 1) }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
