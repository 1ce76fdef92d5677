"""The command line every example server takes to be a node (as the Rust
servers' `NodeArgs`): --config/-g, --local, --iface default to the
GECKO_* variables `gecko-lab exec` sets; --policy names a shipped policy,
`node=ADDR` (every connection to that node while it is available: a
policy written in Python), or `FILE.py:CLASS` / `MODULE:CLASS` (a user's
GeckoPolicy subclass, made without arguments)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import ipaddress
import os

import gecko


class OneNode(gecko.GeckoPolicy):
    """Every connection to one node while it is available; else kept here."""

    def __init__(self, address: str) -> None:
        self.address = str(ipaddress.IPv6Address(address))

    def select_target(self, client: gecko.ClientInfo) -> str | None:
        if any(n.address == self.address for n in client.available()):
            return self.address
        return None


def add_node_args(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("-g", "--config", default=env("GECKO_CONFIG"),
                        required=env("GECKO_CONFIG") is None,
                        help="the distributed server's configuration [GECKO_CONFIG]")
    parser.add_argument("--local", default=env("GECKO_LOCAL_ADDRESS"),
                        required=env("GECKO_LOCAL_ADDRESS") is None,
                        help="this node's own address [GECKO_LOCAL_ADDRESS]")
    parser.add_argument("--iface", default=env("GECKO_INTERFACE", "eth0"),
                        help="this node's network interface [GECKO_INTERFACE, eth0]")
    parser.add_argument("--policy", default="random",
                        help=", ".join(gecko.POLICY_NAMES)
                        + ", node=ADDR, or FILE.py:CLASS / MODULE:CLASS")


def make_policy(spec: str):
    """The policy a --policy value names (raises ValueError)."""
    if spec.startswith("node="):
        return OneNode(spec[len("node="):])
    if ":" in spec:
        where, _, cls = spec.rpartition(":")
        if where.endswith(".py"):
            loaded = importlib.util.spec_from_file_location("gecko_user_policy", where)
            if loaded is None or loaded.loader is None:
                raise ValueError(f"policy `{spec}`: cannot load {where}")
            module = importlib.util.module_from_spec(loaded)
            loaded.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        return getattr(module, cls)()
    return gecko.policy_by_name(spec)


def start(args: argparse.Namespace) -> gecko.GeckoFramework:
    """The node's framework with its policy (checked before it starts)."""
    policy = make_policy(args.policy)
    framework = gecko.GeckoFramework(args.local, args.config, args.iface)
    framework.set_policy(policy)
    return framework
