"""Conversations: request/response benchmarks, where every reply is awaited before the next.

Every server runs in a process of its own, bound to 127.0.0.1 on a port of the
system's choosing; this process drives it over loopback and asks it for its CPU
time (user + system, from ``getrusage`` in the server) before and after each
measured run. A server stops when its standard input closes, and by itself after
:data:`LIFETIME` seconds whatever happens.

1. **Ping-pong**: one client sends a line, waits for its echo, sends the next,
   a fixed number of times. asyncframe's servers are one echo
   :class:`~asyncframe.Handler` on the selectors ``Loop``, asyncio ``serve()``, trio
   ``serve()`` and Twisted ``listen()``; the peers are a hand-written asyncio
   ``Protocol`` (split each read, one write), an asyncio streams server looping on
   ``readuntil``, trio's idiom (``receive_some``, split, ``send_all``) and Twisted's
   ``LineReceiver`` (the Twisted adapter's own peer, target 2x, here and in the
   RESP runs).
2. **A Redis-like protocol** (RESP): PING (inline), SET and GET from 50 clients at
   pipeline depth 1 and 16. asyncframe's server is one Handler,
   :class:`MiniRedis`, run on each adapter; it frames RESP with the
   :class:`~asyncframe.MarkedLines` record kind, with no terminator switch. The
   peers: an asyncio streams server (``readuntil`` and ``readexactly``), a
   hand-written asyncio ``Protocol`` (buffer and parse in ``data_received``), trio's
   idiom and Twisted's ``LineReceiver`` with
   ``setRawMode`` for the values. The clients are ``redis-benchmark`` when it is
   on ``PATH``, else a Python client in this process (``BENCH_RESP_CLIENT=python``
   or ``=redis-benchmark`` forces one).
3. **Server CPU per request**, from the same RESP runs: each server's CPU time over
   the measured requests, divided by their number.
4. **Echo at 1,000 concurrent clients** (each sends a few lines and reads them
   back, every byte checked) and **one client streaming 100,000 lines**, each
   adapter against the hand-written asyncio ``Protocol``.

Ratios are ``peer time / asyncframe time`` (for CPU: peer CPU per request / ours):
above 1.0 asyncframe did better. Run: ``python -m benchmarks --only conversation``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import importlib.util
import io
import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from asyncframe import Handler, MarkedLines

from ._support import REPO_ROOT, raise_fd_limit
from .common import OnResult, Result
from .echo import SplitEchoProtocol, client_load, readuntil_echo

__all__ = [
    "FULL",
    "LIFETIME",
    "QUICK",
    "LineEcho",
    "MiniRedis",
    "ServerProcess",
    "Sizes",
    "execute",
    "notes",
    "parse_commands",
    "run",
]

#: Seconds after which a server process stops by itself, whatever its parent does.
LIFETIME = 900.0

#: The longest value the RESP servers accept (``$<len>`` above it closes the connection).
MAX_VALUE = 1 << 20

#: A blocking client's socket timeout and a multiplexed client's overall deadline, in seconds.
CLIENT_TIMEOUT = 120.0

BACKLOG = 4096


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark of the suite does, and how many rounds it takes."""

    pingpong: int  # round trips of the one ping-pong client
    resp_clients: int  # concurrent RESP clients
    resp_requests: int  # requests per RESP test (PING, SET or GET at one depth)
    echo_clients: int  # concurrent echo clients
    echo_lines: int  # lines each echo client sends
    stream_lines: int  # lines the one streaming client sends
    rounds: int  # each server's best of this many runs


FULL = Sizes(
    pingpong=5000,
    resp_clients=50,
    resp_requests=20000,
    echo_clients=1000,
    echo_lines=10,
    stream_lines=100_000,
    rounds=3,
)
QUICK = Sizes(
    pingpong=500,
    resp_clients=50,
    resp_requests=2000,
    echo_clients=200,
    echo_lines=5,
    stream_lines=10_000,
    rounds=1,
)

#: Pipeline depths of the RESP runs.
DEPTHS = (1, 16)


# -- the protocol: one command table that every RESP server executes --------------------

#: The store of a server process: every RESP connection of the process shares it.
STORE: dict[bytes, bytes] = {}


def execute(store: dict[bytes, bytes], args: Sequence[bytes]) -> bytes:
    """Run one command (PING, SET, GET) on *store* and return its reply in RESP.

    An empty inline line gets no reply (Redis ignores it); anything else unknown
    gets an error, which is also what ``redis-benchmark``'s opening ``CONFIG GET``
    receives.
    """
    if not args:
        return b""
    command = args[0].upper()
    if command == b"GET" and len(args) == 2:
        value = store.get(args[1])
        return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)
    if command == b"SET" and len(args) == 3:
        store[args[1]] = args[2]
        return b"+OK\r\n"
    if command == b"PING" and len(args) == 1:
        return b"+PONG\r\n"
    return b"-ERR unknown command or wrong number of arguments\r\n"


class MiniRedis(Handler):
    """A Redis-like server (PING, SET, GET) written as one batch Handler.

    RESP is framed by a record kind, :class:`~asyncframe.MarkedLines`: every line
    is a frame, and a ``$len`` line announces a value that comes whole as the next
    frame (the header consumed), so no terminator is ever switched. A ``*N`` line
    announces N arguments; a line that does not start with ``*`` is an inline
    command. The replies to one batch go out in one push. It runs unchanged on
    every adapter.
    """

    def __init__(self, store: dict[bytes, bytes]) -> None:
        super().__init__(terminator=MarkedLines(b"$"), max_record_size=MAX_VALUE)
        self.store = store
        self.args: list[bytes] = []
        self.missing = 0  # arguments of the current command still to come

    def on_frames(self, frames: list[bytes]) -> None:
        store = self.store
        args = self.args
        missing = self.missing
        replies = []
        for frame in frames:
            if missing:
                args.append(frame)
                missing -= 1
                if not missing:
                    replies.append(execute(store, args))
                    args = []
            elif frame[:1] == b"*":
                if not frame[1:].isdigit():
                    replies.append(b"-ERR Protocol error\r\n")
                    self.push(b"".join(replies))
                    self.close_when_done()  # as Redis does
                    return
                missing = int(frame[1:])
            else:
                reply = execute(store, frame.split())
                if reply:
                    replies.append(reply)
        self.args = args
        self.missing = missing
        if replies:
            self.push(b"".join(replies))


class LineEcho(Handler):
    """Echoes every line; one push answers all the lines of a read (``on_frames``)."""

    def __init__(self) -> None:
        super().__init__(terminator=b"\n", max_frame_size=1 << 20)

    def on_frames(self, frames: list[bytes]) -> None:
        frames.append(b"")
        self.push(b"\n".join(frames))


# -- the peers' RESP servers -------------------------------------------------------------


def parse_commands(buffer: bytes) -> tuple[list[list[bytes]], bytes]:
    """Split *buffer* into its complete commands (each a list of arguments) and the rest.

    Raises :exc:`ValueError` on a malformed request.
    """
    commands: list[list[bytes]] = []
    pos = 0
    end = len(buffer)
    find = buffer.find
    while pos < end:
        eol = find(b"\r\n", pos)
        if eol < 0:
            break
        if buffer[pos] != 42:  # not b"*": an inline command
            commands.append(buffer[pos:eol].split())
            pos = eol + 2
            continue
        cursor = eol + 2
        args: list[bytes] = []
        for _ in range(int(buffer[pos + 1 : eol])):
            eol = find(b"\r\n", cursor)
            if eol < 0:
                break
            if buffer[cursor] != 36:  # not b"$"
                raise ValueError("expected a $len line")
            start = eol + 2
            stop = start + int(buffer[cursor + 1 : eol])
            if stop + 2 > end:
                break
            args.append(buffer[start:stop])
            cursor = stop + 2
        else:
            commands.append(args)
            pos = cursor
            continue
        break  # the command is incomplete: wait for more bytes
    return commands, buffer[pos:]


class RespProtocol(asyncio.Protocol):
    """Hand-written asyncio RESP server: buffer, parse every complete command, one write."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        try:
            commands, self.pending = parse_commands(self.pending + data)
        except ValueError:
            self.transport.write(b"-ERR Protocol error\r\n")
            self.transport.close()
            return
        if commands:
            store = STORE
            self.transport.write(b"".join([execute(store, args) for args in commands]))


async def streams_resp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The asyncio streams idiom: ``readuntil`` the lines, ``readexactly`` the values."""
    store = STORE
    try:
        while True:
            line = await reader.readuntil(b"\r\n")
            if line[:1] == b"*":
                args = []
                for _ in range(int(line[1:-2])):
                    header = await reader.readuntil(b"\r\n")
                    if header[:1] != b"$":
                        raise ValueError("expected a $len line")
                    value = await reader.readexactly(int(header[1:-2]) + 2)
                    args.append(value[:-2])
            else:
                args = line.split()
            reply = execute(store, args)
            if reply:
                writer.write(reply)
                await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def trio_resp(stream: Any) -> None:
    """trio's idiom: ``receive_some``, parse every complete command, ``send_all`` the replies."""
    import trio

    store = STORE
    pending = b""
    try:
        while data := await stream.receive_some(65536):
            commands, pending = parse_commands(pending + data)
            if commands:
                await stream.send_all(b"".join([execute(store, args) for args in commands]))
    except (trio.BrokenResourceError, ValueError):
        pass


async def trio_line_echo(stream: Any) -> None:
    """trio's idiom for lines: ``receive_some``, split off each line, ``send_all`` it."""
    import trio

    buffered = b""
    try:
        while data := await stream.receive_some(65536):
            buffered += data
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                await stream.send_all(line + b"\n")
    except trio.BrokenResourceError:
        pass


def twisted_protocols() -> dict[str, Any]:
    """The Twisted peers' protocol classes: line echo and RESP on ``LineReceiver``."""
    from twisted.protocols.basic import LineReceiver

    class TwistedLineEcho(LineReceiver):  # type: ignore[misc,unused-ignore]
        """Echoes each line with ``sendLine``."""

        delimiter = b"\n"
        MAX_LENGTH = 1 << 20

        def lineReceived(self, line: bytes) -> None:
            me: Any = self  # Twisted's own annotations are partial
            me.sendLine(line)

    class TwistedResp(LineReceiver):  # type: ignore[misc,unused-ignore]
        """RESP on ``LineReceiver``: lines for ``*N`` and ``$len``, raw mode for values."""

        MAX_LENGTH = 1 << 16

        def connectionMade(self) -> None:
            self.args: list[bytes] = []
            self.missing = 0
            self.size = 0
            self.raw = b""

        def lineReceived(self, line: bytes) -> None:
            me: Any = self  # Twisted's own annotations are partial
            if self.missing:
                if line[:1] != b"$":
                    me.transport.loseConnection()
                    return
                self.size = int(line[1:])
                me.setRawMode()
            elif line[:1] == b"*":
                self.missing = int(line[1:])
                self.args = []
            else:
                reply = execute(STORE, line.split())
                if reply:
                    me.transport.write(reply)

        def rawDataReceived(self, data: bytes) -> None:
            self.raw += data
            if len(self.raw) < self.size + 2:
                return
            value, rest = self.raw[: self.size], self.raw[self.size + 2 :]
            self.raw = b""
            self.args.append(value)
            self.missing -= 1
            me: Any = self
            if not self.missing:
                me.transport.write(execute(STORE, self.args))
            me.setLineMode(rest)

    return {"line": TwistedLineEcho, "resp": TwistedResp}


# -- the server process: one server, its port on stdout, CPU time on request ------------

Ready = Callable[[int, Callable[[], None]], None]


def _factory(family: str) -> Callable[[], Handler]:
    return partial(MiniRedis, STORE) if family == "resp" else LineEcho


def _run_selectors(family: str, ready: Ready) -> None:
    from asyncframe.adapters.selectors import Loop

    with Loop() as loop:
        _, port = loop.listen(_factory(family), "127.0.0.1", 0, backlog=BACKLOG)
        ready(port, loop.stop)
        loop.run()


def _run_asyncio(start: Callable[[], Any], ready: Ready) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        server = await start()

        def stop() -> None:
            loop.call_soon_threadsafe(done.set)

        ready(server.sockets[0].getsockname()[1], stop)
        async with server:
            await done.wait()

    asyncio.run(main())


def _run_trio(serve_one: Callable[..., Any], ready: Ready) -> None:
    import trio

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_one)
            token = trio.lowlevel.current_trio_token()
            cancel = nursery.cancel_scope.cancel
            ready(listeners[0].socket.getsockname()[1], partial(token.run_sync_soon, cancel))

    trio.run(main)


def _run_twisted(family: str, ready: Ready) -> None:
    from twisted.internet import protocol
    from twisted.internet import reactor as installed

    reactor: Any = installed
    factory = protocol.Factory.forProtocol(twisted_protocols()[family])
    port = reactor.listenTCP(0, factory, backlog=BACKLOG, interface="127.0.0.1")
    ready(port.getHost().port, partial(reactor.callFromThread, reactor.stop))
    reactor.run()


def _run_twisted_adapter(family: str, ready: Ready) -> None:
    from twisted.internet import reactor as installed

    from asyncframe.adapters.twisted import listen

    reactor: Any = installed
    listening = listen(_factory(family), host="127.0.0.1", port=0, backlog=BACKLOG)
    port: list[int] = []
    listening.addCallback(lambda listener: port.append(listener.getHost().port))
    ready(port[0], partial(reactor.callFromThread, reactor.stop))
    reactor.run()


def _run_anyio(family: str, backend: str, ready: Ready) -> None:
    import anyio
    import anyio.abc
    import anyio.to_thread

    from asyncframe.adapters.anyio import serve as anyio_serve

    # Set from another thread; a worker thread waits for it on either backend.
    stopping = threading.Event()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            start = partial(anyio_serve, _factory(family), "127.0.0.1", 0, backlog=BACKLOG)
            listeners = await tg.start(start)
            ready(listeners[0].extra(anyio.abc.SocketAttribute.local_port), stopping.set)
            await anyio.to_thread.run_sync(stopping.wait)
            tg.cancel_scope.cancel()

    anyio.run(main, backend=backend)


def run_server(kind: str, ready: Ready) -> None:
    """Serve *kind* (``family:implementation``) in this thread until stopped."""
    family, impl = kind.split(":")
    if impl == "selectors":
        _run_selectors(family, ready)
    elif impl == "asyncio":
        from asyncframe.adapters.asyncio import serve

        _run_asyncio(partial(serve, _factory(family), "127.0.0.1", 0, backlog=BACKLOG), ready)
    elif impl == "asyncio-uvloop":
        import uvloop

        from asyncframe.adapters.asyncio import serve

        # This process serves one server: the policy makes asyncio.run() use uvloop.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        _run_asyncio(partial(serve, _factory(family), "127.0.0.1", 0, backlog=BACKLOG), ready)
    elif impl in ("anyio-asyncio", "anyio-trio"):
        _run_anyio(family, impl.removeprefix("anyio-"), ready)
    elif impl == "trio":
        from asyncframe.adapters.trio import serve as trio_serve

        _run_trio(
            partial(trio_serve, _factory(family), 0, host="127.0.0.1", backlog=BACKLOG), ready
        )
    elif impl == "protocol":
        protocol = RespProtocol if family == "resp" else SplitEchoProtocol
        _run_asyncio(
            lambda: asyncio.get_running_loop().create_server(
                protocol, "127.0.0.1", 0, backlog=BACKLOG
            ),
            ready,
        )
    elif impl == "streams":
        callback = streams_resp if family == "resp" else readuntil_echo
        _run_asyncio(
            partial(asyncio.start_server, callback, "127.0.0.1", 0, backlog=BACKLOG), ready
        )
    elif impl == "trio-idiom":
        import trio

        handler = trio_resp if family == "resp" else trio_line_echo
        _run_trio(partial(trio.serve_tcp, handler, 0, host="127.0.0.1", backlog=BACKLOG), ready)
    elif impl == "twisted":
        _run_twisted(family, ready)
    elif impl == "twisted-adapter":
        _run_twisted_adapter(family, ready)
    else:
        raise ValueError(f"unknown server {kind!r}")


def serve(kind: str) -> None:
    """Run server *kind*: print ``PORT n``, answer ``cpu`` lines on stdin with ``CPU s``.

    The server stops when stdin closes, or after :data:`LIFETIME` seconds.
    """
    raise_fd_limit()
    lock = threading.Lock()
    stopped = False

    def ready(port: int, stop: Callable[[], None]) -> None:
        def stop_once() -> None:
            nonlocal stopped
            with lock:
                if stopped:
                    return
                stopped = True
            # The loop may be gone already when the lifetime and stdin end race.
            with contextlib.suppress(Exception):
                stop()

        def control() -> None:
            for line in sys.stdin:
                if line.strip() == "cpu":
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    print(f"CPU {usage.ru_utime + usage.ru_stime!r}", flush=True)
            stop_once()

        threading.Thread(target=control, daemon=True).start()
        timer = threading.Timer(LIFETIME, stop_once)
        timer.daemon = True
        timer.start()
        print(f"PORT {port}", flush=True)

    run_server(kind, ready)


_SERVE = "import sys; from benchmarks.conversation import serve; serve(sys.argv[1])"


class ServerProcess:
    """A server of one *kind* (see :func:`run_server`) in a child process of its own."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.child = subprocess.Popen(
            # Not "-m benchmarks.conversation": the package imports this module, so
            # runpy would run a second copy of it.
            [sys.executable, "-c", _SERVE, kind],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        # Whatever goes wrong here, the child does not outlive its lifetime.
        self._watchdog = threading.Timer(LIFETIME + 30, self.child.kill)
        self._watchdog.daemon = True
        self._watchdog.start()
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (waits for the child to announce it)."""
        if self._port is None:
            assert self.child.stdout is not None
            line = self.child.stdout.readline()
            if not line.startswith("PORT "):
                self.close()
                raise RuntimeError(f"server {self.kind} did not start: {line!r}")
            self._port = int(line.split()[1])
        return self._port

    def cpu(self) -> float:
        """The server process's CPU time so far (user + system), in seconds."""
        assert self.child.stdin is not None
        assert self.child.stdout is not None
        self.port  # noqa: B018 (the child answers only once it serves)
        self.child.stdin.write("cpu\n")
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        if not line.startswith("CPU "):
            raise RuntimeError(f"server {self.kind} did not report its CPU time: {line!r}")
        return float(line.split()[1])

    def close(self) -> None:
        """Close the child's stdin, which stops it, and wait for it to exit."""
        self._watchdog.cancel()
        if self.child.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.child.stdin.close()
        try:
            self.child.wait(20)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
            raise AssertionError(f"server {self.kind} did not stop when asked") from None
        finally:
            if self.child.stdout is not None:
                self.child.stdout.close()


@contextlib.contextmanager
def servers(kinds: Sequence[str]) -> Iterator[dict[str, ServerProcess]]:
    """Start a server process of each kind at once; yield them by kind; stop them all."""
    started = {kind: ServerProcess(kind) for kind in kinds}
    try:
        for server in started.values():
            server.port  # noqa: B018 (wait until every one listens)
        yield started
    finally:
        for server in started.values():
            server.close()


# -- the clients (run in this process: the servers have processes of their own) ---------


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def pingpong(port: int, count: int) -> float:
    """Send *count* lines one at a time, each after the echo of the one before; the seconds.

    Raises :class:`AssertionError` if an echo is not exactly its line.
    """
    with _connect(port) as sock:
        lines = [b"ping %08d\n" % i for i in range(count)]
        sock.sendall(b"warm up\n")
        assert _read_exactly(sock, 8) == b"warm up\n"
        send, recv = sock.sendall, sock.recv
        deadline = time.monotonic() + CLIENT_TIMEOUT
        start = time.perf_counter()
        for i, line in enumerate(lines):
            if not i & 1023 and time.monotonic() > deadline:
                raise AssertionError(f"ping-pong unfinished after {CLIENT_TIMEOUT} s")
            send(line)
            reply = recv(64)
            # A loopback echo this short arrives in one read; if not, gather the rest.
            if reply != line:
                reply += _read_exactly(sock, len(line) - len(reply))
                if reply != line:
                    raise AssertionError(f"sent {line!r}, got {reply!r} back")
        return time.perf_counter() - start


#: The RESP tests: name, ``redis-benchmark -t`` test, request, its exact reply (as
#: ``redis-benchmark`` sends them: one key, a 3-byte value).
RESP_TESTS = (
    ("PING", "ping_inline", b"PING\r\n", b"+PONG\r\n"),
    ("SET", "set", b"*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n", b"+OK\r\n"),
    ("GET", "get", b"*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n", b"$3\r\nxxx\r\n"),
)


def resp_load(
    port: int, clients: int, requests: int, depth: int, request: bytes, reply: bytes
) -> tuple[float, int]:
    """*clients* connections send *request* *depth* at a time, each batch after the
    replies to the one before, about *requests* in all; return (seconds, requests).

    Every reply byte is checked: :class:`AssertionError` if one differs.
    """
    per_client = max(1, -(-requests // (clients * depth))) * depth  # whole batches
    batch, expected = request * depth, reply * depth
    sel = selectors.DefaultSelector()
    left: dict[socket.socket, int] = {}
    received: dict[socket.socket, bytearray] = {}
    try:
        for _ in range(clients):
            sock = _connect(port)
            sock.setblocking(False)
            left[sock] = per_client
            received[sock] = bytearray()
        start = time.perf_counter()
        deadline = time.monotonic() + CLIENT_TIMEOUT
        for sock in left:
            sock.send(batch)  # a batch is small: the socket buffer takes all of it
            sel.register(sock, selectors.EVENT_READ)
        pending = clients
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"RESP clients unfinished after {CLIENT_TIMEOUT} s")
            for key, _ in sel.select(1.0):
                sock = key.fileobj  # type: ignore[assignment]
                data = sock.recv(65536)
                if not data:
                    raise AssertionError("the server closed a RESP connection")
                got = received[sock]
                got += data
                if len(got) < len(expected):
                    continue
                if got != expected:
                    raise AssertionError(f"expected {expected[:40]!r}..., got {bytes(got[:40])!r}")
                got.clear()
                left[sock] -= depth
                if left[sock]:
                    sock.send(batch)
                else:
                    sel.unregister(sock)
                    pending -= 1
        return time.perf_counter() - start, per_client * clients
    finally:
        sel.close()
        for sock in left:
            sock.close()


def redis_benchmark(
    program: str, port: int, clients: int, requests: int, depth: int, test: str
) -> tuple[float, int]:
    """Run ``redis-benchmark`` for *test* and return (seconds for *requests*, *requests*)."""
    command = [program, "-h", "127.0.0.1", "-p", str(port), "-c", str(clients)]
    command += ["-n", str(requests), "-P", str(depth), "-t", test, "-q", "--csv"]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=CLIENT_TIMEOUT
    ).stdout
    for row in csv.reader(io.StringIO(out)):
        # 7.x prints a header row ("test","rps",...); older ones only "NAME","rps".
        if len(row) >= 2 and row[0] != "test":
            return requests / float(row[1]), requests
    raise RuntimeError(f"no figures in redis-benchmark's output: {out!r}")


def check_resp(port: int) -> None:
    """Check that a RESP server answers correctly, requests split at awkward places.

    Raises :class:`AssertionError` on a wrong reply.
    """
    requests = b"".join(request for _, _, request, _ in RESP_TESTS)
    requests += (
        b"*3\r\n$3\r\nSET\r\n$5\r\nchk\r\n\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$5\r\nchk\r\n\r\n"
    )
    expected = b"+PONG\r\n+OK\r\n$3\r\nxxx\r\n+OK\r\n$0\r\n\r\n"
    with _connect(port) as sock:
        for i in range(0, len(requests), 7):  # 7-byte pieces cut every header and value
            sock.sendall(requests[i : i + 7])
            time.sleep(0.001)
        got = _read_exactly(sock, len(expected))
    if got != expected:
        raise AssertionError(f"expected {expected!r}, got {got!r}")


def resp_client(choice: str = "auto") -> str | None:
    """The ``redis-benchmark`` to drive the RESP servers with, or None for the Python client.

    *choice* is ``"redis-benchmark"``, ``"python"`` or ``"auto"``: the
    ``BENCH_RESP_CLIENT`` environment variable (one of the other two), else
    ``redis-benchmark`` if it is on ``PATH``.
    """
    if choice == "auto":
        choice = os.environ.get("BENCH_RESP_CLIENT", "auto")
    if choice == "python":
        return None
    program = shutil.which("redis-benchmark")
    if choice == "redis-benchmark" and program is None:
        raise RuntimeError("the RESP client is redis-benchmark, but it is not on PATH")
    if choice not in ("auto", "redis-benchmark"):
        raise ValueError(f"unknown RESP client {choice!r}: auto, python or redis-benchmark")
    return program


def _version(program: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        return out.strip() or "version unknown"
    return "version unknown"


# -- the suite --------------------------------------------------------------------------

ADAPTERS = {
    "selectors": "selectors Loop",
    "asyncio": "asyncio serve()",
    "trio": "trio serve()",
    "twisted-adapter": "Twisted listen()",
    "asyncio-uvloop": "asyncio serve() on uvloop",
    "anyio-asyncio": "anyio serve() on asyncio",
    "anyio-trio": "anyio serve() on trio",
}
PEERS = {
    "protocol": "hand-written asyncio Protocol",
    "streams": "asyncio streams server",
    "trio-idiom": "trio receive_some idiom",
    "twisted": "Twisted LineReceiver",
}
#: RESP targets against the asyncio streams server, per adapter.
RESP_TARGETS: dict[str, float | None] = {
    "selectors": 1.0,
    "asyncio": 1.0,
    "trio": 0.75,
    # Held to their loop's own idiom or adapter instead (NATURAL_TARGETS).
    "twisted-adapter": None,
    "asyncio-uvloop": None,
    "anyio-asyncio": None,
    "anyio-trio": None,
}
#: Server CPU per request at most 1.5x the hand-written Protocol's, as a ratio.
CPU_TARGET = 0.67
#: Each adapter against the peer closest to it (no target), besides the asyncio streams
#: server (RESP) or every asyncio server (ping-pong).
NATURAL_PEERS = (
    ("asyncio", "protocol"),
    ("trio", "trio-idiom"),
    ("selectors", "twisted"),
    ("twisted-adapter", "twisted"),
    ("asyncio-uvloop", "asyncio"),
    ("anyio-asyncio", "streams"),
    ("anyio-trio", "trio-idiom"),
)
#: The natural pairs with a target: a Handler on Twisted's reactor at least twice
#: Twisted's own LineReceiver on the same reactor.
NATURAL_TARGETS = {("twisted-adapter", "twisted"): 2.0, ("asyncio-uvloop", "asyncio"): 1.0}

_notes: list[str] = []


def notes() -> list[str]:
    """Lines the last :func:`run` adds below the table: which client, CPU per server."""
    return list(_notes)


def _available() -> tuple[list[str], list[str]]:
    """The adapters and peers that can run here; notes for the missing ones."""
    has_trio = importlib.util.find_spec("trio") is not None
    has_twisted = importlib.util.find_spec("twisted") is not None
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_anyio = importlib.util.find_spec("anyio") is not None
    # What each adapter needs installed beyond asyncframe.
    needs = {
        "trio": has_trio,
        "twisted-adapter": has_twisted,
        "asyncio-uvloop": has_uvloop,
        "anyio-asyncio": has_anyio,
        "anyio-trio": has_anyio and has_trio,
    }
    adapters = [a for a in ADAPTERS if needs.get(a, True)]
    peers = [
        p for p in PEERS if (p != "trio-idiom" or has_trio) and (p != "twisted" or has_twisted)
    ]
    if not has_trio:
        _notes.append("not measured: the trio adapter and trio's idiom (trio is not installed)")
    if not has_uvloop or not has_anyio:
        _notes.append('not measured: the uvloop or anyio rows (pip install "asyncframe[bench]")')
    if not has_twisted:
        _notes.append(
            "not measured: the Twisted adapter and Twisted LineReceiver"
            ' (pip install "asyncframe[bench]")'
        )
    return adapters, peers


class _Best:
    """The least of each measurement over the rounds, by key."""

    def __init__(self) -> None:
        self.values: dict[tuple[Any, ...], float] = {}

    def keep(self, key: tuple[Any, ...], value: float) -> None:
        self.values[key] = min(self.values.get(key, float("inf")), value)

    def __getitem__(self, key: tuple[Any, ...]) -> float:
        return self.values[key]


def _line_benches(size: Sizes, adapters: list[str], peers: list[str], emit: OnResult) -> None:
    """Ping-pong on every line server, then the two floods against the hand-written Protocol."""
    best = _Best()
    with servers([f"line:{k}" for k in adapters + peers]) as running:
        for _ in range(size.rounds):
            for kind, server in running.items():
                best.keep(("pingpong", kind), pingpong(server.port, size.pingpong))
        pairs = [(a, p) for a in adapters for p in ("protocol", "streams")]
        pairs += [(a, p) for a, p in NATURAL_PEERS if a in adapters and p in peers + adapters and
                  p not in ("protocol", "streams")]  # fmt: skip
        for adapter, peer in pairs:
            emit(
                Result(
                    f"ping-pong, 1 client x {size.pingpong} round trips: {ADAPTERS[adapter]}",
                    (ADAPTERS | PEERS)[peer],
                    best["pingpong", f"line:{adapter}"],
                    best["pingpong", f"line:{peer}"],
                    NATURAL_TARGETS.get((adapter, peer)),
                )
            )
        floods = (
            (size.echo_clients, size.echo_lines, 0.7,
             f"echo {size.echo_clients} clients x {size.echo_lines} lines"),
            (1, size.stream_lines, 0.5, f"echo 1 client streaming {size.stream_lines} lines"),
        )  # fmt: skip
        kinds = [f"line:{a}" for a in adapters] + ["line:protocol"]
        for clients, lines, target, title in floods:
            for _ in range(size.rounds):
                for kind in kinds:
                    report = client_load(running[kind].port, clients, lines)
                    if report["exact"] != clients:
                        raise AssertionError(f"{kind}, {title}: {report}")
                    best.keep((title, kind), report["seconds"])
            for adapter in adapters:
                emit(
                    Result(
                        f"{title}: {ADAPTERS[adapter]}",
                        PEERS["protocol"],
                        best[title, f"line:{adapter}"],
                        best[title, "line:protocol"],
                        target,
                    )
                )


def _resp_benches(
    size: Sizes, adapters: list[str], peers: list[str], program: str | None, emit: OnResult
) -> None:
    """Every RESP test at every depth on every RESP server, with each server's CPU time."""
    best = _Best()
    kinds = [f"resp:{k}" for k in adapters + peers]
    with servers(kinds) as running:
        for server in running.values():
            check_resp(server.port)
        for _ in range(size.rounds):
            for depth in DEPTHS:
                for kind, server in running.items():
                    spent, done = 0.0, 0
                    for name, test, request, reply in RESP_TESTS:
                        before = server.cpu()
                        if program is not None:
                            took, count = redis_benchmark(
                                program, server.port, size.resp_clients,
                                size.resp_requests, depth, test,
                            )  # fmt: skip
                        else:
                            took, count = resp_load(
                                server.port, size.resp_clients, size.resp_requests,
                                depth, request, reply,
                            )  # fmt: skip
                        spent += server.cpu() - before
                        done += count
                        best.keep((depth, name, kind), took)
                    # The least CPU per request over the rounds, as the times are the least.
                    best.keep((depth, "cpu", kind), spent / done)
    clients = size.resp_clients
    for depth in DEPTHS:
        for name, *_ in RESP_TESTS:
            for adapter in adapters:
                emit(
                    Result(
                        f"RESP {name} -P {depth}, {clients} clients: {ADAPTERS[adapter]}",
                        PEERS["streams"],
                        best[depth, name, f"resp:{adapter}"],
                        best[depth, name, "resp:streams"],
                        RESP_TARGETS[adapter],
                    )
                )
        for adapter, peer in NATURAL_PEERS:
            if adapter not in adapters or peer not in peers + adapters:
                continue
            emit(
                Result(
                    f"RESP PING+SET+GET -P {depth}, {clients} clients: {ADAPTERS[adapter]}",
                    (ADAPTERS | PEERS)[peer],
                    sum(best[depth, name, f"resp:{adapter}"] for name, *_ in RESP_TESTS),
                    sum(best[depth, name, f"resp:{peer}"] for name, *_ in RESP_TESTS),
                    NATURAL_TARGETS.get((adapter, peer)),
                )
            )
    for depth in DEPTHS:
        for adapter in adapters:
            emit(
                Result(
                    f"server CPU per request, RESP -P {depth}: {ADAPTERS[adapter]}",
                    PEERS["protocol"],
                    best[depth, "cpu", f"resp:{adapter}"],
                    best[depth, "cpu", "resp:protocol"],
                    CPU_TARGET,
                    unit="s/request",
                )
            )
        figures = ", ".join(
            f"{(ADAPTERS | PEERS)[kind.split(':')[1]]} {best[depth, 'cpu', kind] * 1e6:.1f}"
            for kind in kinds
        )
        _notes.append(f"server CPU per request (us, this run), RESP -P {depth}: {figures}")


def run(
    quick: bool = False,
    on_result: OnResult | None = None,
    *,
    sizes: Sizes | None = None,
    client: str = "auto",
) -> list[Result]:
    """Run the conversation benchmarks and return their results.

    *sizes* overrides :data:`FULL` (or :data:`QUICK` with *quick*); *client* picks
    the RESP client (see :func:`resp_client`).
    """
    raise_fd_limit()
    size = sizes or (QUICK if quick else FULL)
    program = resp_client(client)
    _notes.clear()
    adapters, peers = _available()
    _notes.append(
        f"RESP client: {program} ({_version(program)})"
        if program is not None
        else "RESP client: the Python client of benchmarks/conversation.py"
    )
    results: list[Result] = []

    def emit(result: Result) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    _line_benches(size, adapters, peers, emit)
    _resp_benches(size, adapters, peers, program, emit)
    return results
