"""Gecko distributed servers in Python.

A group of server processes, one per node, seen by clients as ONE IPv6
address G: connections move between nodes (handoff) and survive a node's
crash. This package is a thin layer over Gecko's Rust core::

    import gecko

    class Nearest(gecko.GeckoPolicy):
        def select_target(self, client):
            return min(client.available(), key=lambda n: n.connections).address

    with gecko.GeckoFramework(local, "gecko.toml", "eth0") as fw:
        fw.set_policy(Nearest())
        server = fw.get_server_socket()
        while True:
            sock = server.accept()        # GIL released; Ctrl-C interrupts
            ...                           # sock.recv / sendall / handoff()
"""

from ._gecko import (
    POLICY_NAMES,
    ClientInfo,
    ClosedError,
    ConfigError,
    GeckoError,
    GeckoFramework,
    GeckoPolicy,
    GeckoServerSocket,
    GeckoSocket,
    HandoffError,
    LeastConnectionsPolicy,
    MovedError,
    NodeError,
    NodeInfo,
    PortInUseError,
    ProximityPolicy,
    RandomPolicy,
    RoundRobinPolicy,
    __version__,
    init_logging,
    policy_by_name,
)

__all__ = [
    "POLICY_NAMES",
    "ClientInfo",
    "ClosedError",
    "ConfigError",
    "GeckoError",
    "GeckoFramework",
    "GeckoPolicy",
    "GeckoServerSocket",
    "GeckoSocket",
    "HandoffError",
    "LeastConnectionsPolicy",
    "MovedError",
    "NodeError",
    "NodeInfo",
    "PortInUseError",
    "ProximityPolicy",
    "RandomPolicy",
    "RoundRobinPolicy",
    "__version__",
    "init_logging",
    "policy_by_name",
]
