"""A lab client of the echo servers (every language's): sends TOTAL random
bytes with an `H` every EVERY bytes (each asks the server to hand the
connection off), reads the echo in a thread, prints both SHA-256 digests;
exit 1 unless the echo is the bytes sent.

    python3 mid_stream_echo.py G PORT TOTAL EVERY
"""
import hashlib
import os
import socket
import sys
import threading

g, port, total, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = bytearray(os.urandom(total)).replace(b"H", b"G")
for i in range(every // 2, total, every):
    data[i] = ord("H")
s = socket.create_connection((g, port), timeout=30)
back, got = hashlib.sha256(), [0]


def read():
    while got[0] < total:
        b = s.recv(1 << 16)
        if not b:
            break
        back.update(b)
        got[0] += len(b)


t = threading.Thread(target=read)
t.start()
for i in range(0, total, 1 << 16):
    s.sendall(data[i:i + (1 << 16)])
t.join()
s.close()
sent = hashlib.sha256(data).hexdigest()
print("h_bytes", data.count(b"H"))
print("sent", sent)
print("received", back.hexdigest(), got[0])
sys.exit(0 if got[0] == total and back.hexdigest() == sent else 1)
