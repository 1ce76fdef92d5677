#!/usr/bin/env python3
"""Echo throughput through the Python example (examples/python/echo.py on
Gecko) against a plain Python socket echo server, on the same lab hosts in
the same run, and the cost of a Python policy call per accepted
connection. Needs root and a built gecko-lab (see tests/labutil.py).

    python3 bindings-python/bench/echo_bench.py [--seconds 3] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import gecko  # noqa: E402
from gecko._gecko import _call_policy  # noqa: E402
from labutil import Lab, lab_skip_reason  # noqa: E402

# The baseline: the same loop as echo.py's, on a plain socket, a thread per
# connection, at the node's own address.
PLAIN_SERVER = r"""
import socket, sys, threading
def serve(s):
    with s:
        while True:
            data = s.recv(65536)
            if not data:
                return
            s.sendall(data)
            if b"H" in data:
                pass
srv = socket.create_server((sys.argv[1], int(sys.argv[2])), family=socket.AF_INET6)
print("ready", flush=True)
while True:
    s, _ = srv.accept()
    threading.Thread(target=serve, args=(s,), daemon=True).start()
"""

# One connection: a writer thread sends 64 KiB blocks (no `H`) for SECONDS,
# the reader counts the echo; prints MB/s of echoed bytes.
CLIENT = r"""
import socket, sys, threading, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=30)
block = b"\0" * 65536
sent = [0]
def write():
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendall(block)
        sent[0] += len(block)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=write)
start = time.monotonic()
t.start()
buf = bytearray(1 << 20)
got = 0
while True:
    n = s.recv_into(buf)
    if not n:
        break
    got += n
took = time.monotonic() - start
t.join()
assert got == sent[0], (got, sent[0])
print(f"{got / took / 1e6:.1f}")
"""


def throughput(lab: Lab, host: str, port: int, seconds: float) -> float:
    r = lab.run("client1", sys.executable, "-c", CLIENT, host, str(port), str(seconds),
                timeout=seconds + 60)
    assert r.returncode == 0, r.stderr.decode()
    return float(r.stdout.decode().strip())


def policy_cost(calls: int) -> dict[str, float]:
    """Seconds per select_target call as the framework makes it: from a
    thread of the core's, without the GIL, through the same bridge."""
    class PyRoundRobin(gecko.GeckoPolicy):
        def __init__(self):
            self.i = 0

        def select_target(self, client):
            nodes = client.available()
            self.i += 1
            return nodes[self.i % len(nodes)].address

    nodes = [gecko.NodeInfo(f"2001:db8:1:{i}::2", i, 0.0002 * i) for i in range(1, 4)]
    info = gecko.ClientInfo("2001:db8:2:1::2", 40000, nodes[0].address, nodes)
    out = {}
    for name, p in (("python", PyRoundRobin()), ("rust", gecko.RoundRobinPolicy())):
        _call_policy(p, info, 1000)  # warm-up
        out[name] = statistics.median(_call_policy(p, info, calls)[1] for _ in range(5))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per path")
    ap.add_argument("--calls", type=int, default=20000, help="policy calls per sample")
    args = ap.parse_args()

    costs = policy_cost(args.calls)
    print(f"policy call per accepted connection: Python subclass {costs['python'] * 1e6:.2f} us, "
          f"shipped (Rust) {costs['rust'] * 1e6:.3f} us")

    reason = lab_skip_reason()
    if reason:
        print(f"echo throughput: skipped ({reason})")
        return 0
    lab = Lab("gk-py-bench", nodes=1, clients=1)
    try:
        node = lab.nodes[0]
        lab.start_servers("echo.py", "--policy", "random", tag="bench-echo")
        plain = lab.spawn(node, sys.executable, "-c", PLAIN_SERVER, lab.address(node), "7000",
                          log="bench-plain.log")
        deadline = time.time() + 10
        while "ready" not in lab.log(plain):
            assert time.time() < deadline and plain.poll() is None, lab.log(plain)
            time.sleep(0.05)
        gk, pl = [], []
        for _ in range(args.rounds):
            gk.append(throughput(lab, lab.g, 7, args.seconds))
            pl.append(throughput(lab, lab.address(node), 7000, args.seconds))
        g, p = statistics.median(gk), statistics.median(pl)
        print(f"echo, one connection, {args.rounds} alternating rounds of {args.seconds:g} s:")
        print(f"  echo.py on Gecko at G:       median {g:8.1f} MB/s  {gk}")
        print(f"  plain Python socket server:  median {p:8.1f} MB/s  {pl}")
        print(f"  ratio {g / p:.3f} (target >= 0.80)")
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
