"""Loopback echo throughput of each adapter against its framework's own idiom,
and a load run of many concurrent clients with every line checked.

The client load runs in a separate process (a selectors-based multiplexed client), so
every server faces the same load and none shares its interpreter with the clients.
Each client sends its lines in one go and reads until every echoed byte is back; the
client checks every byte. Servers:

- selectors: asyncframe's ``Loop`` + an echo Handler, against asyncore + stdlib asynchat;
- asynchat drop-in: asyncframe's ``async_chat`` under asyncore, against the stdlib one;
- asyncio: ``serve()`` + the echo Handler, against an asyncio streams ``readuntil`` server;
- trio: ``serve()`` + the echo Handler, against ``receive_some`` + manual split;
- Twisted: ``listen()`` + the echo Handler in each style (``on_frame``,
  ``on_frames``, streaming), against a ``LineReceiver`` on the same reactor.
- anyio (on its asyncio and on its trio backend): ``serve()`` + the echo Handler,
  against anyio's streams idiom, ``BufferedByteReceiveStream.receive_until`` and
  ``send`` per line, served with ``create_tcp_listener``.
- uvloop: the asyncio adapter's ``serve()`` on a uvloop loop, against the same on
  asyncio's own loop (where uvloop is installed).

Then, per adapter (selectors, asyncio, trio), the whole-frame hooks:

- a Handler echoing with ``on_frames`` (one push per read) against a hand-written
  server for the same loop that splits each read with ``bytes.split`` and answers
  with one write (an asyncio ``Protocol``; trio ``receive_some`` + ``send_all``; a
  plain non-blocking socket loop on :mod:`selectors`);
- a Handler echoing with ``on_frame`` against the streaming
  ``on_data``/``on_terminator`` echo Handler on the same adapter.

Run: ``python -m benchmarks --only echo`` from a checkout.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
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
from asyncframe.testing import (
    AdapterUnderTest,
    AnyioAdapter,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    TwistedAdapter,
    UvloopAdapter,
    running_reactor,
    serving,
)

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
    """Echoes every line back, payload and terminator, as they stream in."""

    def __init__(self) -> None:
        super().__init__(terminator=b"\n", max_frame_size=1 << 20)

    def on_data(self, data: bytes) -> None:
        self.push(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        self.push(b"\n")


class FrameEcho(EchoHandler):
    """Echoes each whole line (``on_frame``)."""

    def on_frame(self, frame: bytes) -> None:
        self.push(frame + b"\n")


class FramesEcho(EchoHandler):
    """Echoes every whole line of a read with one push (``on_frames``)."""

    def on_frames(self, frames: list[bytes]) -> None:
        frames.append(b"")
        self.push(b"\n".join(frames))


ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "trio": TrioAdapter,
    "twisted": TwistedAdapter,
    "anyio-asyncio": partial(AnyioAdapter, "asyncio"),
    "anyio-trio": partial(AnyioAdapter, "trio"),
    "asyncio-uvloop": UvloopAdapter,
}


@contextmanager
def adapter_server(adapter: str, factory: Callable[[], Handler]) -> Iterator[int]:
    """One of asyncframe's adapters serving *factory*, in a thread of its own."""
    with serving(ADAPTERS[adapter](), factory, backlog=2048) as (_, port):
        yield port


selectors_server = partial(adapter_server, "selectors", EchoHandler)


@contextmanager
def selectors_split_server() -> Iterator[int]:
    """Hand-written: a plain non-blocking socket loop; split each read, one send."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=2048)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, list[bytes]] = {}  # per socket: [unsplit tail, unsent output]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            for key, mask in sel.select(0.05):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                if sock is listener:
                    with contextlib.suppress(BlockingIOError):
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        pending[conn] = [b"", b""]
                        sel.register(conn, selectors.EVENT_READ)
                    continue
                state = pending[sock]
                if mask & selectors.EVENT_READ:
                    try:
                        data = sock.recv(65536)
                    except ConnectionError:
                        data = b""
                    if not data:
                        sel.unregister(sock)
                        sock.close()
                        del pending[sock]
                        continue
                    *lines, state[0] = (state[0] + data).split(b"\n")
                    if lines:
                        lines.append(b"")
                        state[1] += b"\n".join(lines)
                if state[1]:
                    try:
                        sent = sock.send(state[1])
                    except BlockingIOError:
                        sent = 0
                    state[1] = state[1][sent:]
                if bool(state[1]) != (key.events & selectors.EVENT_WRITE != 0):
                    # Ask for writability only while output waits.
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if state[1] else 0)
                    sel.modify(sock, events)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for sock in pending:
            sock.close()
        sel.close()
        listener.close()


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


class SplitEchoProtocol(asyncio.Protocol):
    """Hand-written: split each read with bytes.split, one write() per data_received."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.tail = b""

    def data_received(self, data: bytes) -> None:
        *lines, self.tail = (self.tail + data).split(b"\n")
        if lines:
            lines.append(b"")
            self.transport.write(b"\n".join(lines))


@contextmanager
def asyncio_server(idiom: bool) -> Iterator[int]:
    """The asyncio streams readuntil idiom, or asyncframe's echo Handler on it."""
    if not idiom:
        with adapter_server("asyncio", EchoHandler) as port:
            yield port
        return
    yield from _asyncio_thread(
        lambda: asyncio.start_server(readuntil_echo, "127.0.0.1", 0, backlog=2048)
    )


@contextmanager
def asyncio_split_server() -> Iterator[int]:
    """Hand-written asyncio Protocol server."""
    yield from _asyncio_thread(
        lambda: asyncio.get_running_loop().create_server(
            SplitEchoProtocol, "127.0.0.1", 0, backlog=2048
        )
    )


async def readuntil_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The asyncio streams idiom: readuntil, write, drain."""
    try:
        while True:
            line = await reader.readuntil(b"\n")
            writer.write(line)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


def _asyncio_thread(start: Callable[[], Any]) -> Iterator[int]:
    """Run the server *start()* makes on a new event loop in a thread; yield its port."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        server = await start()
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
    """trio's per-line or batched idiom, or (*idiom* None) asyncframe's echo Handler on trio."""
    if idiom is None:
        with adapter_server("trio", EchoHandler) as port:
            yield port
        return
    import trio

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
            echo = split_echo if idiom == "per-line" else batched_echo
            listeners = await nursery.start(
                partial(trio.serve_tcp, echo, 0, host="127.0.0.1", backlog=2048)
            )
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


@contextmanager
def twisted_line_server() -> Iterator[int]:
    """Twisted's idiom: a ``LineReceiver`` that echoes each line with ``sendLine``, on
    the same reactor as the Twisted adapter's server (the kit's running one)."""
    from twisted.internet import protocol
    from twisted.internet.threads import blockingCallFromThread
    from twisted.protocols.basic import LineReceiver

    class LineEcho(LineReceiver):  # type: ignore[misc,unused-ignore]
        delimiter = b"\n"
        MAX_LENGTH = 1 << 20

        def lineReceived(self, line: bytes) -> None:
            me: Any = self  # Twisted's own annotations are partial
            me.sendLine(line)

    reactor: Any = running_reactor()
    factory = protocol.Factory.forProtocol(LineEcho)
    factory.noisy = False
    port = blockingCallFromThread(
        reactor, reactor.listenTCP, 0, factory, backlog=2048, interface="127.0.0.1"
    )
    try:
        yield port.getHost().port
    finally:
        blockingCallFromThread(reactor, port.stopListening)


def twisted_pairs() -> list[tuple[str, Callable[[], Any], str, Callable[[], Any], float]]:
    """The Twisted adapter in each handler style (``on_frame`` is ``lineReceived``'s
    counterpart) against ``LineReceiver`` on the same reactor (target 2x)."""
    if importlib.util.find_spec("twisted") is None:
        return []
    return [
        (f"Twisted listen() {style}", partial(adapter_server, "twisted", factory),
         "Twisted LineReceiver", twisted_line_server, 2.0)
        for style, factory in (
            ("on_frame", FrameEcho),
            ("on_frames", FramesEcho),
            ("on_data/on_terminator", EchoHandler),
        )
    ]  # fmt: skip


@contextmanager
def anyio_server(backend: str) -> Iterator[int]:
    """anyio's streams idiom on *backend*: ``receive_until`` a line, ``send`` it back."""
    import anyio
    import anyio.abc
    import anyio.to_thread
    from anyio.streams.buffered import BufferedByteReceiveStream

    async def receive_until_echo(stream: anyio.abc.SocketStream) -> None:
        buffered = BufferedByteReceiveStream(stream)
        async with stream:
            try:
                while True:
                    line = await buffered.receive_until(b"\n", 1 << 20)
                    await stream.send(line + b"\n")
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                pass

    ready = threading.Event()
    stopping = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        listener = await anyio.create_tcp_listener(
            local_host="127.0.0.1", local_port=0, backlog=2048
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, receive_until_echo)
            box["port"] = listener.extra(anyio.abc.SocketAttribute.local_port)
            ready.set()
            await anyio.to_thread.run_sync(stopping.wait)
            tg.cancel_scope.cancel()

    thread = threading.Thread(target=anyio.run, args=(main,), kwargs={"backend": backend})
    thread.start()
    ready.wait()
    try:
        yield box["port"]
    finally:
        stopping.set()
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
    if importlib.util.find_spec("anyio") is not None:
        result.append(
            ("anyio serve() on asyncio", partial(adapter_server, "anyio-asyncio", EchoHandler),
             "anyio receive_until on asyncio", partial(anyio_server, "asyncio"))
        )  # fmt: skip
    if importlib.util.find_spec("uvloop") is not None:
        result.append(
            ("asyncio serve() on uvloop", partial(adapter_server, "asyncio-uvloop", EchoHandler),
             "asyncio serve() on asyncio's loop", partial(adapter_server, "asyncio", EchoHandler))
        )  # fmt: skip
    try:
        import trio  # noqa: F401
    except ImportError:
        return result
    result.append(
        ("trio serve()", partial(trio_server, None), "trio receive_some + split",
         partial(trio_server, "per-line"))
    )  # fmt: skip
    if importlib.util.find_spec("anyio") is not None:
        result.append(
            ("anyio serve() on trio", partial(adapter_server, "anyio-trio", EchoHandler),
             "anyio receive_until on trio", partial(anyio_server, "trio"))
        )  # fmt: skip
    return result


#: The hand-written server of each adapter's loop: split each read, one write.
HAND_WRITTEN: dict[str, tuple[str, Callable[[], Any]]] = {
    "selectors": ("hand-written selectors loop", selectors_split_server),
    "asyncio": ("hand-written asyncio Protocol", asyncio_split_server),
    "trio": ("hand-written trio receive_some + send_all", partial(trio_server, "batched")),
}


def frame_pairs() -> list[tuple[str, Callable[[], Any], str, Callable[[], Any], float]]:
    """Per adapter: ``on_frames`` against the hand-written server (target 0.5x), and
    ``on_frame`` against the streaming Handler on the same adapter (target 2.5x)."""
    result: list[tuple[str, Callable[[], Any], str, Callable[[], Any], float]] = []
    for adapter, (peer, hand_written) in HAND_WRITTEN.items():
        if adapter == "trio" and importlib.util.find_spec("trio") is None:
            continue
        result.append((f"{adapter} on_frames", partial(adapter_server, adapter, FramesEcho),
                       peer, hand_written, 0.5))  # fmt: skip
        result.append((f"{adapter} on_frame", partial(adapter_server, adapter, FrameEcho),
                       f"{adapter} on_data/on_terminator", partial(adapter_server, adapter,
                       EchoHandler), 2.5))  # fmt: skip
    return result


def run(
    quick: bool = False, repeat: int | None = None, on_result: OnResult | None = None
) -> list[Result]:
    """Echo throughput of each adapter against its idiom; best of *repeat* rounds each.

    A round of 50 x 2,000 lines takes 5-80 ms, so one slow moment of a shared
    machine can spoil a round: each server gets five (two with *quick*), taken in
    turn with its peer's.
    """
    raise_fd_limit()
    clients, lines = (20, 500) if quick else (50, 2000)
    rounds = repeat if repeat is not None else (2 if quick else 5)
    results: list[Result] = []
    candidates = [(*pair, 1.0) for pair in pairs()] + frame_pairs() + twisted_pairs()
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


def styles(runs: int = 5, rounds: int = 5) -> dict[str, dict[str, float]]:
    """Lines echoed per second (50 clients x 2,000 lines, best of *rounds*), median of
    *runs*, per adapter: the streaming Handler, ``on_frame``, ``on_frames`` and the
    hand-written server of the same loop (the table in docs/handlers.rst)."""
    raise_fd_limit()
    clients, lines = 50, 2000
    servers: dict[str, dict[str, Callable[[], Any]]] = {}
    for adapter, (_, hand_written) in HAND_WRITTEN.items():
        if adapter == "trio" and importlib.util.find_spec("trio") is None:
            continue
        servers[adapter] = {
            "streaming": partial(adapter_server, adapter, EchoHandler),
            "on_frame": partial(adapter_server, adapter, FrameEcho),
            "on_frames": partial(adapter_server, adapter, FramesEcho),
            "hand-written": hand_written,
        }
    per_run: dict[str, dict[str, list[float]]] = {
        adapter: {style: [] for style in row} for adapter, row in servers.items()
    }
    for _ in range(runs):
        for adapter, row in servers.items():
            best = dict.fromkeys(row, float("inf"))
            for _ in range(rounds):
                for style, server in row.items():
                    with server() as port:
                        report = drive(port, clients, lines)
                    if report["exact"] != clients:
                        raise AssertionError(f"{adapter} {style}: {report}")
                    best[style] = min(best[style], report["seconds"])
            for style, seconds in best.items():
                per_run[adapter][style].append(clients * lines / seconds)
    return {
        adapter: {style: sorted(rates)[len(rates) // 2] for style, rates in row.items()}
        for adapter, row in per_run.items()
    }


if __name__ == "__main__":
    if sys.argv[1] == "--styles":  # python -m benchmarks.echo --styles
        for adapter, row in styles().items():
            print(adapter, "  ".join(f"{style} {rate / 1e6:.2f} M" for style, rate in row.items()))
    else:  # the client process started by drive()
        port, clients, lines = map(int, sys.argv[2:5])
        print(json.dumps(client_load(port, clients, lines)))
