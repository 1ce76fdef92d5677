"""asyncio forms of GeckoSocket's reads, writes and handoff.

The loop integration is the socket's descriptor: the socket is made
non-blocking, a read or write is tried at once and, when it would block,
retried after ``loop.add_reader``/``add_writer`` says the descriptor is
ready. A handoff freezes the connection for a moment (reads and writes
raise BlockingIOError meanwhile, without the descriptor becoming ready),
so a wait also ends after ``_RECHECK`` seconds to try again.
"""

from __future__ import annotations

import asyncio

# Longest wait for readiness before trying again (see the module doc).
_RECHECK = 0.25


def _nonblocking(sock) -> None:
    if sock.gettimeout() != 0:
        sock.setblocking(False)


async def _ready(fd: int, writer: bool) -> None:
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    (loop.add_writer if writer else loop.add_reader)(fd, wake)
    try:
        await asyncio.wait_for(fut, _RECHECK)
    except asyncio.TimeoutError:
        pass
    finally:
        (loop.remove_writer if writer else loop.remove_reader)(fd)


async def recv(sock, bufsize: int) -> bytes:
    """Up to ``bufsize`` bytes, waiting in the loop; b"" at the end."""
    _nonblocking(sock)
    while True:
        try:
            return sock.recv(bufsize)
        except BlockingIOError:
            await _ready(sock.fileno(), writer=False)


async def sendall(sock, data) -> None:
    """Writes all of ``data``, waiting in the loop."""
    _nonblocking(sock)
    view = memoryview(data).cast("B")
    while view:
        try:
            n = sock.send(view)
        except BlockingIOError:
            await _ready(sock.fileno(), writer=True)
            continue
        view = view[n:]


async def handoff(sock, target=None) -> bool:
    """A blocking handoff on the loop's default executor (it releases the
    GIL); its result as ``GeckoSocket.handoff``."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: sock.handoff(target))
