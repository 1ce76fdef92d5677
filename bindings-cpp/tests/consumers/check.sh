#!/usr/bin/env bash
# The other two ways a user links Gecko, checked by building the echo
# example each way: add_subdirectory(bindings-cpp) in a project of its own,
# and pkg-config against an installed prefix. Usage: check.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out=$1
rm -rf "$out"
mkdir -p "$out"
cmake -S "$here/subdirectory" -B "$out/subdirectory" -DCMAKE_BUILD_TYPE=Release \
  -DGECKO_SOURCE_DIR="$repo/bindings-cpp" -DGECKO_EXAMPLES_DIR="$repo/examples/cpp" >/dev/null
cmake --build "$out/subdirectory" -j2 >/dev/null
test -x "$out/subdirectory/echo_server"
echo "add_subdirectory: echo_server built"
cmake --install "$out/subdirectory/gecko" --prefix "$out/prefix" >/dev/null
export PKG_CONFIG_PATH="$out/prefix/lib/pkgconfig"
# shellcheck disable=SC2046 # the flags are words
c++ -O2 -I"$repo/examples/cpp" -o "$out/echo_server_pc" "$repo/examples/cpp/echo_server.cpp" \
  $(pkg-config --cflags --libs gecko)
test -x "$out/echo_server_pc"
echo "pkg-config: echo_server built"
"$out/echo_server_pc" --help | grep -q -- --policy
echo "pkg-config: echo_server runs"
