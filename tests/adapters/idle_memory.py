"""A server in its own process that reports its RSS growth per idle connection.

``python -m tests.adapters.idle_memory ADAPTER N`` (``asyncio-uvloop``: the
asyncio adapter on uvloop) serves a whole-frame echo
Handler (or, for ``trio-bare``, trio's own ``serve_tcp`` echo, the floor under
the trio adapter) and prints the port; after a line on stdin (the parent's warm-up
connections are up) it notes its RSS; after another (N more idle connections are
open) it waits until it has made N more handlers and prints the RSS growth per
connection in KiB, as JSON. Each wait is bounded.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
from typing import Any

from asyncframe import Handler
from asyncframe.testing._adapters import run_on_loop

DEADLINE = 60.0
made: list[int] = []


def uvloop_factory(adapter: str) -> Any:
    """``uvloop.new_event_loop`` for ``asyncio-uvloop``, else None (asyncio's loop)."""
    if adapter != "asyncio-uvloop":
        return None
    import uvloop

    return uvloop.new_event_loop


class Echo(Handler):
    def on_frame(self, frame: bytes) -> None:
        self.push(frame + b"\r\n")


def factory() -> Handler:
    made.append(1)
    return Echo()


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def wait_for_handlers(n: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while len(made) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def control(port: int, n: int) -> None:
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.readline()
    wait_for_handlers(len(made))
    gc.collect()
    base, before = rss_kib(), len(made)
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    wait_for_handlers(before + n)
    gc.collect()
    print(json.dumps({"kib_per_connection": (rss_kib() - base) / n}), flush=True)
    os._exit(0)


def main(adapter: str, n: int) -> None:
    if adapter == "selectors":
        from asyncframe.adapters.selectors import Loop

        loop = Loop()
        port = loop.listen(factory, "127.0.0.1", 0)[1]
        threading.Thread(target=control, args=(port, n), daemon=True).start()
        loop.run(timeout=DEADLINE * 2)
    elif adapter in ("asyncio", "asyncio-uvloop"):
        from asyncframe.adapters.asyncio import serve

        async def amain() -> None:
            server = await serve(factory, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            threading.Thread(target=control, args=(port, n), daemon=True).start()
            await asyncio.sleep(DEADLINE * 2)

        run_on_loop(amain(), uvloop_factory(adapter))
    else:
        import trio

        from asyncframe.adapters.trio import serve as trio_serve

        async def bare_echo(stream: trio.SocketStream) -> None:
            # trio's own idiom, the floor for any handler run under serve_tcp.
            made.append(1)
            while data := await stream.receive_some(65536):
                await stream.send_all(data)

        async def tmain() -> None:
            with trio.move_on_after(DEADLINE * 2):
                async with trio.open_nursery() as nursery:
                    if adapter == "trio-bare":
                        listeners = await nursery.start(trio.serve_tcp, bare_echo, 0)
                    else:
                        listeners = await nursery.start(trio_serve, factory, 0)
                    port = listeners[0].socket.getsockname()[1]
                    threading.Thread(target=control, args=(port, n), daemon=True).start()

        trio.run(tmain)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
