"""A server run out of file descriptors, in its own process (see test_accept_backoff).

``python -m tests.adapters.fd_exhaustion ADAPTER`` (``asyncio-uvloop``: the
asyncio adapter on uvloop) lowers RLIMIT_NOFILE, counts
every ``accept()`` attempt, serves an echo Handler and prints, as JSON lines:
the port; then, once accept has failed six times, the warnings logged and the CPU
seconds used between the first and the sixth failure; then, after a line on
stdin, the warnings logged in all. Each wait is bounded.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import resource
import socket
import sys
import threading
import time
from typing import Any

from asyncframe import Handler
from asyncframe.testing._adapters import run_on_loop

LIMIT = 64
DEADLINE = 30.0


def uvloop_factory(adapter: str) -> Any:
    """``uvloop.new_event_loop`` for ``asyncio-uvloop``, else None (asyncio's loop)."""
    if adapter != "asyncio-uvloop":
        return None
    import uvloop

    return uvloop.new_event_loop


class Echo(Handler):
    def on_frame(self, frame: bytes) -> None:
        self.push(frame + b"\r\n")


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


attempts = {"all": 0, "failed": 0}
_accept = socket.socket.accept


def counting_accept(self: socket.socket) -> Any:
    attempts["all"] += 1
    try:
        return _accept(self)
    except OSError as exc:
        if exc.errno == errno.EMFILE:
            attempts["failed"] += 1
        raise


def wait_for_failures(n: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while attempts["failed"] < n and time.monotonic() < deadline:
        time.sleep(0.005)


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def main(adapter: str) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, hard))
    socket.socket.accept = counting_accept  # type: ignore[method-assign]
    counter = Counter()
    logging.getLogger().addHandler(counter)
    ready = threading.Event()
    port: list[int] = []
    stop: list[Any] = []

    if adapter == "selectors":
        from asyncframe.adapters.selectors import Loop

        def run() -> None:
            with Loop() as loop:
                port.append(loop.listen(Echo, "127.0.0.1", 0)[1])
                stop.append(loop.stop)
                ready.set()
                loop.run(timeout=120)

    elif adapter == "trio":
        import trio

        from asyncframe.adapters.trio import serve as trio_serve

        def run() -> None:
            async def tmain() -> None:
                with trio.move_on_after(120) as scope:
                    async with trio.open_nursery() as nursery:
                        listeners = await nursery.start(trio_serve, Echo, 0)
                        port.append(listeners[0].socket.getsockname()[1])
                        token = trio.lowlevel.current_trio_token()
                        stop.append(lambda: token.run_sync_soon(scope.cancel))
                        ready.set()

            trio.run(tmain)

    elif adapter.startswith("anyio-"):  # anyio-asyncio, anyio-trio
        import anyio
        import anyio.abc
        import anyio.to_thread

        from asyncframe.adapters.anyio import serve as anyio_serve

        def run() -> None:
            stopping = threading.Event()

            async def anyio_main() -> None:
                with anyio.move_on_after(120):
                    async with anyio.create_task_group() as tg:
                        listeners = await tg.start(anyio_serve, Echo, "127.0.0.1", 0)
                        local = anyio.abc.SocketAttribute.local_port
                        port.append(listeners[0].extra(local))
                        stop.append(stopping.set)
                        ready.set()
                        await anyio.to_thread.run_sync(stopping.wait)
                        tg.cancel_scope.cancel()

            anyio.run(anyio_main, backend=adapter.removeprefix("anyio-"))

    else:
        from asyncframe.adapters.asyncio import serve

        def run() -> None:
            async def amain() -> None:
                server = await serve(Echo, "127.0.0.1", 0)
                port.append(server.sockets[0].getsockname()[1])
                done = asyncio.Event()
                loop = asyncio.get_running_loop()
                stop.append(lambda: loop.call_soon_threadsafe(done.set))
                ready.set()
                await asyncio.wait_for(done.wait(), 120)
                server.close()

            run_on_loop(amain(), uvloop_factory(adapter))

    thread = threading.Thread(target=run)
    thread.start()
    ready.wait(DEADLINE)
    print(json.dumps({"port": port[0]}), flush=True)
    wait_for_failures(1)
    before = cpu()
    wait_for_failures(6)
    print(
        json.dumps(
            {
                "failed": attempts["failed"],
                "warnings": len(counter.lines),
                "cpu": cpu() - before,
            }
        ),
        flush=True,
    )
    sys.stdin.readline()
    stop[0]()
    thread.join(DEADLINE)
    print(json.dumps({"warnings": counter.lines}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
