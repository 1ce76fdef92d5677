#!/usr/bin/env python3
"""The seed's echo server on Gecko, in Python (examples/rust/echo_server.rs
in Rust): each new connection is placed by the policy at establishment,
and every `H` byte read hands the connection off again, after its echo.
The client sees one server at G and a byte-exact echo throughout.

    gecko-lab exec --name L node1 -- python3 examples/python/echo.py --policy round-robin
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

import gecko

from _node_args import add_node_args, start

log = logging.getLogger("echo")


def serve(sock: gecko.GeckoSocket) -> None:
    """Echoes until the client closes or the connection moves away."""
    with sock:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                sock.sendall(data)
                if b"H" in data:
                    try:
                        if sock.handoff():
                            return  # served by another node now
                    except gecko.GeckoError as e:
                        log.info("handoff failed; serving on: %s", e)
        except OSError as e:
            log.debug("connection ended: %s", e)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_node_args(parser)
    parser.add_argument("--port", type=int, default=7, help="the TCP port served at G")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        with start(args) as framework, framework.get_server_socket(args.port) as server:
            log.info("echo server ready on port %d", args.port)
            while True:
                sock = server.accept()
                threading.Thread(target=serve, args=(sock,), daemon=True).start()
    except KeyboardInterrupt:
        return 0
    except (gecko.GeckoError, OSError, ValueError) as e:
        print(f"echo.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
