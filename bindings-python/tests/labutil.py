"""Labs for the binding's tests: `gecko-lab` (the project's binary) builds
network namespaces with the home agent and client agents; servers run in
the nodes through `gecko-lab exec`. Everything started here is killed and
the lab taken down by `Lab.down()` (tests call it from fixture finalizers,
so also on failure)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "python"
# Nodes report their load every 200 ms; policies pick only nodes heard from.
LOAD_SETTLE = 0.8


def gecko_lab() -> str | None:
    """The `gecko-lab` binary: $GECKO_LAB, else the newest build."""
    if os.environ.get("GECKO_LAB"):
        return os.environ["GECKO_LAB"]
    roots = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    roots.append(REPO / "target")
    found = [r / p / "gecko-lab" for r in roots for p in ("release", "debug")]
    found = [f for f in found if f.is_file()]
    return str(max(found, key=lambda f: f.stat().st_mtime)) if found else None


def lab_skip_reason() -> str | None:
    """Why lab tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces)"
    if gecko_lab() is None:
        return "no gecko-lab binary: run `cargo build --workspace` first"
    return None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metric_in(text: str, series: str) -> float:
    """The value of `series` (name with its labels, as printed) or 0."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


class Lab:
    def __init__(self, name: str, nodes: int = 3, clients: int = 2) -> None:
        assert name.startswith("gk-py"), "this binding's labs are named gk-py*"
        self.name = name
        self.bin = gecko_lab()
        self.procs: list[subprocess.Popen] = []
        self.logs = Path(f"/tmp/{name}-logs")
        # A fresh directory: a log of an earlier run must not satisfy this one's checks.
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir()
        subprocess.run([self.bin, "down", "--name", name], capture_output=True)
        subprocess.run([self.bin, "up", "--name", name, "--nodes", str(nodes),
                        "--clients", str(clients)], check=True, capture_output=True)
        status = json.loads(subprocess.run(
            [self.bin, "status", "--name", name, "--json"],
            check=True, capture_output=True, text=True).stdout)
        self.g = status["global_address"]
        self.config = status["config"]
        self.hosts = status["hosts"]
        self.nodes = sorted(h for h, v in self.hosts.items() if v["role"] == "node")
        self.clients = sorted(h for h, v in self.hosts.items() if v["role"] == "client")

    def address(self, host: str) -> str:
        return self.hosts[host]["address"]

    def command(self, host: str, *cmd: str) -> list[str]:
        return [self.bin, "exec", "--name", self.name, host, "--", *cmd]

    def run(self, host: str, *cmd: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(host, *cmd), capture_output=True, timeout=timeout, **kw)

    def spawn(self, host: str, *cmd: str, log: str) -> subprocess.Popen:
        """Starts `cmd` in `host` (its own process group; output to a log)."""
        out = open(self.logs / log, "ab")
        p = subprocess.Popen(self.command(host, *cmd), stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        p.log = self.logs / log
        self.procs.append(p)
        return p

    def log(self, p: subprocess.Popen) -> str:
        return Path(p.log).read_text(errors="replace")

    def kill(self, p: subprocess.Popen) -> None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()

    def kill_all(self) -> None:
        for p in self.procs:
            self.kill(p)
        self.procs.clear()

    def metrics(self, host: str) -> str | None:
        url = self.hosts[host]["metrics"]
        r = self.run(host, "curl", "-s", "--max-time", "2", url, timeout=10)
        return r.stdout.decode() if r.returncode == 0 and r.stdout else None

    def metric(self, host: str, series: str) -> float:
        return metric_in(self.metrics(host) or "", series)

    def by_node(self, series: str) -> list[float]:
        return [self.metric(n, series) for n in self.nodes]

    def start_servers(self, script: str, *args: str, nodes: list[str] | None = None,
                      tag: str = "") -> list[subprocess.Popen]:
        """Runs examples/python/SCRIPT on each node; waits until each serves
        its metrics and the nodes have heard each other's load."""
        procs = []
        for node in nodes or self.nodes:
            procs.append(self.spawn(node, sys.executable, str(EXAMPLES / script), *args,
                                    log=f"{node}-{tag or script}.log"))
        for node, p in zip(nodes or self.nodes, procs):
            deadline = time.time() + 20
            while self.metrics(node) is None:
                assert p.poll() is None, f"{script} on {node} exited: {self.log(p)}"
                assert time.time() < deadline, f"{script} on {node} not serving: {self.log(p)}"
                time.sleep(0.1)
        time.sleep(LOAD_SETTLE)
        return procs

    def down(self) -> None:
        self.kill_all()
        subprocess.run([self.bin, "down", "--name", self.name], capture_output=True)
