"""Loopback echo throughput of each adapter against its framework's own idiom,
and a load run of many concurrent clients with every line checked.

The client load runs in a separate process (a selectors-based multiplexed client), so
every server faces the same load and none shares its interpreter with the clients.
Each client sends its lines in one go and reads until every echoed byte is back; the
client checks every byte. Servers:

- selectors: asyncframe's ``Loop`` + an echo Handler, against asyncore + stdlib asynchat;
- asynchat drop-in: asyncframe's ``async_chat`` under asyncore, against the stdlib one;
- asyncio: ``serve()`` + the echo Handler, against an asyncio streams ``readuntil`` server;
- trio: ``serve()`` + the echo Handler, against ``receive_some`` + manual split.

Run: ``python -m benchmarks --only echo`` from a checkout.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from asyncframe import Handler

from ._support import REPO_ROOT, raise_fd_limit
from .common import OnResult, Result

__all__ = ["load", "run"]


# -- the client load (runs in its own process) -----------------------------------------


def client_load(port: int, clients: int, lines: int) -> dict[str, Any]:
    """Open *clients* connections, send *lines* lines on each, check every echoed byte."""
    raise_fd_limit()
    sel = selectors.DefaultSelector()
    expected: dict[socket.socket, bytes] = {}
    outgoing: dict[socket.socket, memoryview] = {}
    received: dict[socket.socket, bytearray] = {}
    for c in range(clients):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        payload = b"".join(b"client %05d line %06d\n" % (c, i) for i in range(lines))
        expected[sock] = payload
        outgoing[sock] = memoryview(payload)
        received[sock] = bytearray()
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    start = time.perf_counter()
    pending = clients
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        for key, mask in sel.select(1.0):
            sock = key.fileobj  # type: ignore[assignment]
            if mask & selectors.EVENT_WRITE and outgoing[sock]:
                sent = sock.send(outgoing[sock])
                outgoing[sock] = outgoing[sock][sent:]
                if not outgoing[sock]:
                    sel.modify(sock, selectors.EVENT_READ)
            if mask & selectors.EVENT_READ:
                data = sock.recv(262144)
                received[sock] += data
                if len(received[sock]) >= len(expected[sock]) or not data:
                    sel.unregister(sock)
                    pending -= 1
    elapsed = time.perf_counter() - start
    exact = sum(bytes(received[s]) == expected[s] for s in expected)
    lost = sum(max(0, len(expected[s]) - len(received[s])) for s in expected)
    for sock in expected:
        sock.close()
    return {
        "clients": clients,
        "lines": clients * lines,
        "bytes": sum(map(len, expected.values())),
        "exact": exact,
        "bytes_lost": lost,
        "seconds": elapsed,
    }


def drive(port: int, clients: int, lines: int) -> dict[str, Any]:
    """Run :func:`client_load` in a child process and return its report."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.echo", "--client", str(port), str(clients), str(lines)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    report: dict[str, Any] = json.loads(out)
    return report


# -- servers: each is a context manager yielding the port ------------------------------


class EchoHandler(Handler):
    """Echoes every line back, payload and terminator."""

    def __init__(self) -> None:
        super().__init__(terminator=b"\n", max_frame_size=1 << 20)

    def on_data(self, data: bytes) -> None:
        self.push(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        self.push(b"\n")


@contextmanager
def selectors_server() -> Iterator[int]:
    from asyncframe.adapters.selectors import Loop

    loop = Loop()
    _, port = loop.listen(EchoHandler, "127.0.0.1", 0, backlog=2048)
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        yield port
    finally:
        loop.stop()
        thread.join()
        loop.close()


@contextmanager
def asyncore_server(module: Any) -> Iterator[int]:
    from ._support import Listener, asyncore

    chat_map: dict[int, Any] = {}

    class Echo(module.async_chat):  # type: ignore[misc]
        ac_in_buffer_size = 65536
        ac_out_buffer_size = 65536

        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock, map=chat_map)
            self.set_terminator(b"\n")

        def collect_incoming_data(self, data: bytes) -> None:
            self._collect_incoming_data(data)

        def found_terminator(self) -> None:
            self.push(self._get_data() + b"\n")

    port = Listener(("127.0.0.1", 0), chat_map, Echo, backlog=2048).address[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            asyncore.loop(timeout=0.05, map=chat_map, use_poll=True, count=20)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join()
        for dispatcher in list(chat_map.values()):
            dispatcher.close()


@contextmanager
def asyncio_server(idiom: bool) -> Iterator[int]:
    from asyncframe.adapters.asyncio import serve

    ready = threading.Event()
    box: dict[str, Any] = {}

    async def readuntil_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readuntil(b"\n")
                writer.write(line)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def main() -> None:
        if idiom:
            server = await asyncio.start_server(readuntil_echo, "127.0.0.1", 0, backlog=2048)
        else:
            server = await serve(EchoHandler, "127.0.0.1", 0, backlog=2048)
        box["port"] = server.sockets[0].getsockname()[1]
        box["stop"] = asyncio.Event()
        box["loop"] = asyncio.get_running_loop()
        ready.set()
        async with server:
            await box["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    ready.wait()
    try:
        yield box["port"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join()


@contextmanager
def trio_server(idiom: str | None) -> Iterator[int]:
    import trio

    from asyncframe.adapters.trio import serve

    ready = threading.Event()
    box: dict[str, Any] = {}

    async def split_echo(stream: trio.SocketStream) -> None:
        # The idiom: receive_some, split off one line at a time, send_all each reply.
        buffered = b""
        try:
            while data := await stream.receive_some(65536):
                buffered += data
                while b"\n" in buffered:
                    line, buffered = buffered.split(b"\n", 1)
                    await stream.send_all(line + b"\n")
        except trio.BrokenResourceError:
            pass

    async def batched_echo(stream: trio.SocketStream) -> None:
        # Hand-tuned: split every complete line at once, one send_all per read.
        buffered = b""
        try:
            while data := await stream.receive_some(65536):
                *lines, buffered = (buffered + data).split(b"\n")
                if lines:
                    await stream.send_all(b"\n".join(lines) + b"\n")
        except trio.BrokenResourceError:
            pass

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            if idiom:
                echo = split_echo if idiom == "per-line" else batched_echo
                listeners = await nursery.start(
                    partial(trio.serve_tcp, echo, 0, host="127.0.0.1", backlog=2048)
                )
            else:
                listeners = await nursery.start(partial(serve, EchoHandler, 0, host="127.0.0.1"))
            box["port"] = listeners[0].socket.getsockname()[1]
            box["token"] = trio.lowlevel.current_trio_token()
            box["cancel"] = nursery.cancel_scope.cancel
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,))
    thread.start()
    ready.wait()
    try:
        yield box["port"]
    finally:
        trio.from_thread.run_sync(box["cancel"], trio_token=box["token"])
        thread.join()


def _stdlib_asynchat() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import asynchat
    except ImportError:
        return None
    return asynchat


def pairs() -> list[tuple[str, Callable[[], Any], str, Callable[[], Any] | None]]:
    """(adapter, its server, the idiom's name, the idiom's server or None)."""
    from asyncframe.adapters import asynchat as dropin

    stdlib = _stdlib_asynchat()
    stdlib_server = partial(asyncore_server, stdlib) if stdlib else None
    result: list[tuple[str, Callable[[], Any], str, Callable[[], Any] | None]] = [
        ("selectors Loop", selectors_server, "asyncore + stdlib asynchat", stdlib_server),
        ("async_chat drop-in", partial(asyncore_server, dropin), "stdlib asynchat", stdlib_server),
        ("asyncio serve()", partial(asyncio_server, False), "asyncio readuntil",
         partial(asyncio_server, True)),
    ]  # fmt: skip
    try:
        import trio  # noqa: F401
    except ImportError:
        return result
    result.append(
        ("trio serve()", partial(trio_server, None), "trio receive_some + split",
         partial(trio_server, "per-line"))
    )  # fmt: skip
    return result


def extra_pairs() -> list[tuple[str, Callable[[], Any], str, Callable[[], Any]]]:
    """Comparisons shown for information, without a target: hand-tuned peers."""
    try:
        import trio  # noqa: F401
    except ImportError:
        return []
    return [
        ("trio serve()", partial(trio_server, None), "trio split + join, one send per read",
         partial(trio_server, "batched")),
    ]  # fmt: skip


def run(
    quick: bool = False, repeat: int | None = None, on_result: OnResult | None = None
) -> list[Result]:
    """Echo throughput of each adapter against its idiom; best of *repeat* rounds each."""
    raise_fd_limit()
    clients, lines = (20, 500) if quick else (50, 2000)
    rounds = repeat if repeat is not None else (2 if quick else 3)
    results: list[Result] = []
    candidates = [(*pair, 1.0) for pair in pairs()] + [(*pair, None) for pair in extra_pairs()]
    for name, ours, idiom_name, idiom, target in candidates:
        if idiom is None:
            continue
        best: dict[str, float] = {}
        for _ in range(rounds):
            for label, server in (("ours", ours), ("idiom", idiom)):
                with server() as port:
                    report = drive(port, clients, lines)
                if report["exact"] != clients:
                    raise AssertionError(f"{name if label == 'ours' else idiom_name}: {report}")
                best[label] = min(best.get(label, float("inf")), report["seconds"])
        result = Result(
            f"echo {clients}x{lines} lines: {name}", idiom_name, best["ours"], best["idiom"], target
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def load(clients: int = 1000, lines: int = 20) -> dict[str, dict[str, Any]]:
    """Serve *clients* concurrent clients on each adapter; report what came back exactly."""
    raise_fd_limit()
    reports = {}
    for name, ours, _, _ in pairs():
        with ours() as port:
            reports[name] = drive(port, clients, lines)
    return reports


if __name__ == "__main__":  # the client process started by drive()
    port, clients, lines = map(int, sys.argv[2:5])
    print(json.dumps(client_load(port, clients, lines)))
