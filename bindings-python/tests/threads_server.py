"""Node1's server for the 20-thread test: N threads accept and echo
through ONE framework; a Python policy (round-robin over the available
nodes, in Python) places each new connection. Usage: PORT THREADS."""

import itertools
import os
import sys
import threading

import gecko


class PyRoundRobin(gecko.GeckoPolicy):
    def __init__(self):
        self.turn = itertools.count()
        self.lock = threading.Lock()

    def select_target(self, client):
        nodes = client.available()
        with self.lock:
            i = next(self.turn)
        return nodes[i % len(nodes)].address if nodes else None


def worker(server):
    while True:
        try:
            sock = server.accept()
        except OSError:
            return
        with sock:
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    sock.sendall(data)
            except OSError:
                pass


def main():
    port, threads = int(sys.argv[1]), int(sys.argv[2])
    with gecko.GeckoFramework(os.environ["GECKO_LOCAL_ADDRESS"], os.environ["GECKO_CONFIG"],
                              os.environ.get("GECKO_INTERFACE", "eth0")) as fw:
        fw.set_policy(PyRoundRobin())
        server = fw.get_server_socket(port)
        ts = [threading.Thread(target=worker, args=(server,), daemon=True)
              for _ in range(threads)]
        for t in ts:
            t.start()
        print(f"{threads} threads serving", flush=True)
        for t in ts:
            t.join()


if __name__ == "__main__":
    main()
