"""A lab client of the echo servers (every language's): CONNS connections,
CONCURRENT at a time, each N random bytes (no `H`) echoed and compared by
SHA-256; prints `ok K of CONNS`, exit 1 unless every echo matched.

    python3 many_echoes.py G PORT CONNS CONCURRENT N
"""
import hashlib
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

g, port, conns, concurrent, n = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:6])


def one(_):
    data = os.urandom(n).replace(b"H", b"G")
    s = socket.create_connection((g, port), timeout=30)
    s.sendall(data)
    back = bytearray()
    # Closed only after the whole echo: a half-closed connection cannot move.
    while len(back) < n:
        b = s.recv(65536)
        if not b:
            break
        back += b
    s.close()
    return hashlib.sha256(back).digest() == hashlib.sha256(data).digest()


with ThreadPoolExecutor(concurrent) as ex:
    ok = sum(ex.map(one, range(conns)))
print("ok", ok, "of", conns)
sys.exit(0 if ok == conns else 1)
