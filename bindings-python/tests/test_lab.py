"""Lab tests (root): the Python examples on three nodes with the real
daemons, clients in the lab's client hosts, checked by SHA-256 and by the
nodes' own metrics. One lab (gk-py-lab) for all of them; each test's
servers are killed however it ends."""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labutil import EXAMPLES, REPO, sha256

HERE = Path(__file__).parent

# The lab clients every language's tests share.
MID_STREAM_CLIENT = str(REPO / "tests" / "clients" / "mid_stream_echo.py")
MANY_CLIENT = str(REPO / "tests" / "clients" / "many_echoes.py")


def short_echo(lab, client):
    r = lab.run(client, sys.executable, MANY_CLIENT, lab.g, "7", "1", "1", "64")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_python_policy_that_names_one_node_places_every_connection_there(servers):
    lab = servers
    target = lab.address("node3")
    lab.start_servers("echo.py", "--policy", f"node={target}", tag="one-node")
    for client in lab.clients * 3:
        short_echo(lab, client)
    accepted = lab.by_node("gecko_connections_accepted_total")
    handed_in = lab.by_node('gecko_handoffs_total{direction="in"}')
    assert accepted == [0, 0, 6], accepted
    assert handed_in == [0, 0, 6], handed_in


def test_a_raising_policy_still_serves_and_logs_the_traceback(servers):
    lab = servers
    procs = lab.start_servers("echo.py", "--policy", f"{HERE / 'policies.py'}:Raising",
                              tag="raising")
    for client in lab.clients * 2:
        short_echo(lab, client)
    # An `H` asks the policy again mid-stream: the connection stays, echoed whole.
    r = lab.run("client1", sys.executable, MID_STREAM_CLIENT, lab.g, "7",
                str(256 << 10), str(64 << 10))
    assert r.returncode == 0, r.stdout + r.stderr
    accepted = lab.by_node("gecko_connections_accepted_total")
    assert accepted == [5, 0, 0], accepted  # all on the contact node
    assert lab.by_node('gecko_handoffs_total{direction="out"}') == [0, 0, 0]
    log = lab.log(procs[0])
    assert "policy Raising: select_target raised" in log, log[-3000:]
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: policy failure on purpose" in log
    assert all(p.poll() is None for p in procs), "a server died"


def test_mid_stream_handoffs_keep_the_stream_intact_both_ways(servers):
    lab = servers
    lab.start_servers("echo.py", "--policy", "round-robin", tag="mid-stream")
    total, every = 2 << 20, 128 << 10
    r = lab.run("client2", sys.executable, MID_STREAM_CLIENT, lab.g, "7",
                str(total), str(every))
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert lines["sent"] == lines["received"].split()[0]
    assert lines["h_bytes"] == str(total // every)
    # A donor counts a handoff once the acceptor's outcome reached it,
    # which may be after the client's last echo came back.
    deadline = time.monotonic() + 10
    while True:
        moved = sum(lab.by_node('gecko_handoffs_total{direction="out"}'))
        arrived = sum(lab.by_node('gecko_handoffs_total{direction="in"}'))
        if moved == arrived or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert moved >= 8, moved  # 16 `H`s, round-robin keeps 1 in 3 here
    assert moved == arrived


def test_a_crashed_node_s_download_completes_through_the_python_stream_server(servers, tmp_path):
    lab = servers
    size = 24 << 20
    data = os.urandom(size)
    served = Path(f"/tmp/{lab.name}-served.bin")
    served.write_bytes(data)
    try:
        victim = lab.nodes.index("node2")
        procs = lab.start_servers("stream.py", "--file", str(served), "--policy",
                                  f"node={lab.address('node2')}", tag="stream")
        out = tmp_path / "download.bin"
        curl = subprocess.Popen(lab.command(
            "client1", "curl", "-sS", "--fail", "--max-time", "60", "--limit-rate", "8M",
            "-o", str(out), "-w", "%{http_code} %{size_download}",
            f"http://[{lab.g}]:8080/"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.2)
        assert curl.poll() is None, "the download ended before the crash"
        assert 0 < out.stat().st_size < size
        lab.kill(procs[victim])  # SIGKILL node2's server
        stdout, stderr = curl.communicate(timeout=90)
        assert curl.returncode == 0, stderr
        assert stdout.decode().split() == ["200", str(size)]
        assert sha256(out.read_bytes()) == sha256(data)
        recovered = sum(lab.metric(n, "gecko_recoveries_total")
                        for n in lab.nodes if n != "node2")
        assert recovered >= 1
        backup = next(p for n, p in zip(lab.nodes, procs) if n == "node3")
        assert "resuming the response at" in lab.log(backup)
    finally:
        served.unlink(missing_ok=True)


def test_twenty_threads_serve_through_one_framework(servers):
    lab = servers
    # node2 and node3 run the echo example; node1, the contact, runs 20
    # threads accepting from one framework whose Python policy spreads
    # connections over the nodes (the core calls it with the GIL free).
    lab.start_servers("echo.py", "--policy", "round-robin", nodes=["node2", "node3"],
                      tag="threads-peers")
    node1 = lab.spawn("node1", sys.executable, str(HERE / "threads_server.py"), "7", "20",
                      log="node1-threads.log")
    deadline = time.time() + 20
    while lab.metrics("node1") is None:
        assert node1.poll() is None and time.time() < deadline, lab.log(node1)
        time.sleep(0.1)
    time.sleep(1.0)
    r = lab.run("client1", sys.executable, MANY_CLIENT, lab.g, "7", "120", "30",
                "100000", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    accepted = lab.by_node("gecko_connections_accepted_total")
    assert sum(accepted) == 120 and all(a > 0 for a in accepted), accepted
    assert node1.poll() is None
    assert "20 threads serving" in lab.log(node1)


def test_in_node_framework_checks(servers):
    """tests/in_node/: the GIL during accept, Ctrl-C, misuse, asyncio."""
    lab = servers
    env = {"GECKO_PY_IN_NODE": "1", "GECKO_PY_LAB": lab.name, "GECKO_LAB": lab.bin,
           "GECKO_PY_G": lab.g}
    r = lab.run("node1", "env", *[f"{k}={v}" for k, v in env.items()], sys.executable, "-m",
                "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "in_node"), timeout=300,
                cwd=str(HERE.parent))
    out = (r.stdout + r.stderr).decode()
    print(out)
    assert r.returncode == 0, out[-6000:]
    assert " passed" in out
