#!/usr/bin/env python3
"""A file-download server on Gecko, in Python (examples/rust/stream_server.rs
in Rust): `GET /` answers with one file over HTTP/1.1. The response is one
byte sequence R (head, then the file); a connection that arrives
mid-stream (handed in, or recovered after its node crashed) resumes R
where the connection's position says the previous node stopped.

    gecko-lab exec --name L node1 -- python3 examples/python/stream.py --file /srv/big.bin
    curl -o out http://[G]:8080/
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
import threading

import gecko

from _node_args import add_node_args, make_policy, start

log = logging.getLogger("stream")

MAX_HEAD = 8 * 1024          # the longest request head read
REQUEST_TIMEOUT = 30.0       # for the client to send its request head
LINGER_TIMEOUT = 30.0        # for the client to close after the response
CHUNK = 64 * 1024


class Response:
    """R: its head in memory, the file read from disk as sent."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        st = os.fstat(self.fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"cannot serve {path}: not a regular file")
        self.file_len = st.st_size
        self.head = (
            f"HTTP/1.1 200 OK\r\nContent-Length: {self.file_len}\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        ).encode()

    def __len__(self) -> int:
        return len(self.head) + self.file_len

    def read_at(self, at: int, n: int) -> bytes:
        if at < len(self.head):
            return self.head[at:at + n]
        data = os.pread(self.fd, min(n, len(self) - at), at - len(self.head))
        if not data:
            raise OSError("the file shrank while serving it")
        return data


def read_request(sock: gecko.GeckoSocket) -> str | None:
    """Reads the request head; returns None for `GET /`, else the status."""
    sock.settimeout(REQUEST_TIMEOUT)
    head = b""
    while b"\r\n\r\n" not in head:
        if len(head) >= MAX_HEAD:
            return "431 Request Header Fields Too Large"
        data = sock.recv(min(2048, MAX_HEAD - len(head)))
        if not data:
            raise EOFError("closed before the request head ended")
        head += data
    sock.settimeout(None)
    parts = head.split(b"\n", 1)[0].decode("latin-1").strip().split(" ")
    method, target = (parts + ["", ""])[:2]
    if method == "GET" and target == "/":
        return None
    return "404 Not Found" if method == "GET" else "405 Method Not Allowed"


def linger(sock: gecko.GeckoSocket) -> None:
    """Waits (bounded) for the client to close after the whole response."""
    try:
        sock.settimeout(LINGER_TIMEOUT)
        while sock.recv(4096):
            pass
    except OSError:
        pass


def send(sock: gecko.GeckoSocket, r: Response, start_at: int, every: int | None) -> bool:
    """Writes R from `start_at`, handing off at each multiple of `every`;
    False once the connection moved."""
    at = start_at
    next_handoff = (start_at // every + 1) * every if every else None
    while at < len(r):
        limit = min(next_handoff, len(r)) if next_handoff else len(r)
        data = r.read_at(at, min(limit - at, CHUNK))
        sock.sendall(data)
        at += len(data)
        if next_handoff and at == next_handoff and at < len(r):
            next_handoff += every
            try:
                if sock.handoff():
                    return False
            except gecko.GeckoError as e:
                log.info("handoff failed at %d; serving on: %s", at, e)
    return True


def serve(sock: gecko.GeckoSocket, r: Response, every: int | None) -> None:
    with sock:
        try:
            sent, received = sock.position
            arrived = sock.handed_in or sock.recovered is not None
            if sent > 0:
                log.info("resuming the response at %d (handed in %s, recovered %s)",
                         sent, sock.handed_in, sock.recovered)
                start_at = sent
            elif arrived and received > 0:
                start_at = 0  # the request was read on another node
            else:
                status = read_request(sock)
                if status is not None:
                    body = f"{status}\n"
                    allow = "Allow: GET\r\n" if status.startswith("405") else ""
                    sock.sendall((
                        f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
                        f"Content-Type: text/plain\r\n{allow}Connection: close\r\n\r\n{body}"
                    ).encode())
                    linger(sock)
                    return
                start_at = 0
            if send(sock, r, start_at, every):
                linger(sock)
        except (OSError, EOFError, gecko.GeckoError) as e:
            log.debug("connection ended: %s", e)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_node_args(parser)
    parser.add_argument("--port", type=int, default=8080, help="the TCP port served at G")
    parser.add_argument("--file", required=True, help="the file served at GET /")
    parser.add_argument("--handoff-every", type=int, metavar="BYTES",
                        help="hand the connection off each time the response reaches "
                             "a multiple of this many bytes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        make_policy(args.policy)
        # Checked before the node joins: a node that cannot serve must not take connections.
        response = Response(args.file)
        with start(args) as framework, framework.get_server_socket(args.port) as server:
            log.info("stream server ready on port %d: %s, %d bytes",
                     args.port, args.file, response.file_len)
            while True:
                sock = server.accept()
                threading.Thread(target=serve, args=(sock, response, args.handoff_every),
                                 daemon=True).start()
    except KeyboardInterrupt:
        return 0
    except (gecko.GeckoError, OSError, ValueError) as e:
        print(f"stream.py: cannot serve: {e}" if isinstance(e, OSError) else f"stream.py: {e}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
