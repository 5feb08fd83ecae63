"""STARTTLS (Handler.start_tls) and the TLS handshake bound on every adapter, over
real loopback sockets and real TLS (trustme certificates)."""

from __future__ import annotations

import logging
import select
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from asyncframe import Handler, Options
from asyncframe.testing import (
    AdapterUnderTest,
    AnyioAdapter,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    TwistedAdapter,
)
from asyncframe.testing._adapters import run_on_loop, serving

from .conftest import (
    LOOPS,
    TIMEOUT,
    loop_factory,
    read_exactly,
    read_until_eof,
    uvloop_adapter,
    wait_for,
)

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]

ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "asyncio-uvloop": uvloop_adapter,
    "trio": TrioAdapter,
    "anyio-asyncio": partial(AnyioAdapter, "asyncio"),
    "anyio-trio": partial(AnyioAdapter, "trio"),
    "twisted": TwistedAdapter,
}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> AdapterUnderTest:
    return ADAPTERS[request.param]()


class Log:
    """What the handlers of one server did, from the server's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[bytes] = []
        self.events: list[str] = []
        self.made = 0
        self.peer_versions: list[str | None] = []

    def add(self, what: str) -> None:
        with self.lock:
            self.events.append(what)


class Upgrading(Handler):
    """A line protocol: ``STARTTLS`` answers ``220 go ahead`` and upgrades; ``PUSH``
    answers then upgrades with a line pushed after the call; every other line is
    echoed with ``tls=0`` or ``tls=1``."""

    def __init__(self, log: Log, context: ssl.SSLContext) -> None:
        super().__init__()
        self.log = log
        self.context = context

    def on_connect(self) -> None:
        self.push(b"READY\r\n")

    def line(self, frame: bytes) -> None:
        self.log.frames.append(frame)
        if frame == b"STARTTLS":
            self.push(b"220 go ahead\r\n")
            self.start_tls(self.context)
        elif frame == b"PUSH":
            self.push(b"220 go ahead\r\n")
            self.start_tls(self.context)
            self.push(b"AFTER\r\n")  # sent over TLS, after the handshake
        else:
            tls = b"1" if self.ssl_object is not None else b"0"
            self.push(b"ECHO " + frame + b" tls=" + tls + b"\r\n")

    def on_tls_started(self) -> None:
        self.log.add("tls")
        self.log.peer_versions.append(self.ssl_object.version())

    def on_close(self) -> None:
        self.log.add("close")


class FrameStyle(Upgrading):
    def on_frame(self, frame: bytes) -> None:
        self.line(frame)


class BatchStyle(Upgrading):
    def on_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.line(frame)
            if self.closing:
                return


class StreamStyle(Upgrading):
    def __init__(self, log: Log, context: ssl.SSLContext) -> None:
        super().__init__(log, context)
        self.parts: list[bytes] = []

    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        frame = b"".join(self.parts)
        self.parts.clear()
        self.line(frame)


STYLES = {"frame": FrameStyle, "batch": BatchStyle, "stream": StreamStyle}


@pytest.fixture(params=sorted(STYLES))
def style(request: pytest.FixtureRequest) -> type[Upgrading]:
    return STYLES[request.param]


class Served:
    def __init__(self, port: int, log: Log) -> None:
        self.port = port
        self.log = log


@pytest.fixture
def server(adapter: AdapterUnderTest, style: type[Upgrading], tls: Contexts) -> Iterator[Served]:
    log = Log()
    server_ctx = tls[0]

    def factory() -> Handler:
        log.made += 1
        return style(log, server_ctx)

    with serving(adapter, factory, tls_handshake_timeout=2.0) as (_, port):
        yield Served(port, log)


def closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes; True if it did (an EOF or a reset), with no byte
    received in between."""
    try:
        return read_until_eof(sock) == b""
    except ConnectionResetError:
        return True
    finally:
        sock.close()


def plain(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    assert read_exactly(sock, 7) == b"READY\r\n"
    return sock


def upgrade(sock: socket.socket, client_ctx: ssl.SSLContext) -> ssl.SSLSocket:
    sock.sendall(b"STARTTLS\r\n")
    # The reply comes in clear text, and nothing after it before the handshake.
    assert read_exactly(sock, 14) == b"220 go ahead\r\n"
    return client_ctx.wrap_socket(sock, server_hostname="127.0.0.1")


def test_clear_reply_then_tls(server: Served, tls: Contexts) -> None:
    with upgrade(plain(server.port), tls[1]) as sock:
        version = sock.version()
        sock.sendall(b"HELLO\r\n")
        assert read_exactly(sock, 18) == b"ECHO HELLO tls=1\r\n"
        sock.sendall(b"AGAIN\r\n")
        assert read_exactly(sock, 18) == b"ECHO AGAIN tls=1\r\n"
    assert wait_for(lambda: "close" in server.log.events)
    assert server.log.events == ["tls", "close"]
    assert version is not None
    assert server.log.peer_versions == [version]
    assert server.log.frames == [b"STARTTLS", b"HELLO", b"AGAIN"]


def test_output_pushed_after_the_call_goes_over_tls(server: Served, tls: Contexts) -> None:
    sock = plain(server.port)
    sock.sendall(b"PUSH\r\n")
    assert read_exactly(sock, 14) == b"220 go ahead\r\n"
    with tls[1].wrap_socket(sock, server_hostname="127.0.0.1") as tls_sock:
        assert read_exactly(tls_sock, 7) == b"AFTER\r\n"
        tls_sock.sendall(b"X\r\n")
        assert read_exactly(tls_sock, 14) == b"ECHO X tls=1\r\n"


def test_input_past_the_command_is_not_processed(
    server: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncframe")
    sock = plain(server.port)
    # The command injection: a command after STARTTLS in the same segment.
    sock.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example.com>\r\n")
    try:
        got = read_until_eof(sock)
    except ConnectionResetError:
        got = b""
    finally:
        sock.close()
    assert wait_for(lambda: "close" in server.log.events)
    assert server.log.frames == [b"STARTTLS"]
    assert "tls" not in server.log.events
    assert b"MAIL" not in got
    assert any("clear text after start_tls" in r.getMessage() for r in caplog.records)


def test_failed_handshake_closes_that_connection_only(server: Served, tls: Contexts) -> None:
    other = upgrade(plain(server.port), tls[1])
    sock = plain(server.port)
    sock.sendall(b"STARTTLS\r\n")
    assert read_exactly(sock, 14) == b"220 go ahead\r\n"
    sock.sendall(b"this is not a TLS client hello\r\n" * 4)
    assert closed_by_server(sock)
    assert wait_for(lambda: "close" in server.log.events)
    with other:  # the upgraded connection goes on
        other.sendall(b"STILL\r\n")
        assert read_exactly(other, 18) == b"ECHO STILL tls=1\r\n"
    assert server.log.events.count("tls") == 1


def test_a_silent_upgrade_is_closed_by_the_timeout(server: Served) -> None:
    sock = plain(server.port)
    sock.sendall(b"STARTTLS\r\n")
    assert read_exactly(sock, 14) == b"220 go ahead\r\n"
    # Nothing more: tls_handshake_timeout (2 s) closes it, not the test's timeout.
    assert closed_by_server(sock)
    assert wait_for(lambda: "close" in server.log.events)
    assert "tls" not in server.log.events


# -- TLS from the first byte: the handshake is bounded, the handler made after it --


class Echo(Handler):
    def on_frame(self, frame: bytes) -> None:
        self.push(frame + b"\r\n")


def test_silent_tls_peers_are_closed_without_a_handler(
    adapter: AdapterUnderTest, tls: Contexts
) -> None:
    made: list[int] = []

    def factory() -> Handler:
        made.append(1)
        return Echo()

    with serving(adapter, factory, ssl=tls[0], tls_handshake_timeout=0.5) as (_, port):
        silent = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(5)]
        assert all(closed_by_server(sock) for sock in silent)
        assert made == []
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        with tls[1].wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"hi\r\n")
            assert read_exactly(sock, 4) == b"hi\r\n"
        assert made == [1]


def test_the_idle_timeout_does_not_bound_the_handshake(
    adapter: AdapterUnderTest, tls: Contexts
) -> None:
    """A long idle_timeout does not keep a silent TLS peer: the handshake's own bound
    does."""
    with serving(adapter, Echo, ssl=tls[0], idle_timeout=3600.0, tls_handshake_timeout=0.5) as (
        _,
        port,
    ):
        assert closed_by_server(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))


@pytest.mark.parametrize("value", [0, -1.0, "5", True])
def test_bad_handshake_timeout(value: Any) -> None:
    from asyncframe.adapters.selectors import Loop

    with Loop() as loop, pytest.raises((TypeError, ValueError), match="tls_handshake_timeout"):
        loop.listen(Echo, "127.0.0.1", 0, tls_handshake_timeout=value)
    with pytest.raises((TypeError, ValueError), match="tls_handshake_timeout"):
        Options(tls_handshake_timeout=value)


# -- the client side: a Handler that upgrades, on every adapter --------------------


class TLSPeer:
    """A blocking server in a thread: READY, then STARTTLS answered with ``220``, then
    one line over TLS answered with ``TLS <line>``."""

    def __init__(self, server_ctx: ssl.SSLContext) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.ctx = server_ctx
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(TIMEOUT)
            conn.sendall(b"READY\r\n")
            assert read_exactly(conn, 10) == b"STARTTLS\r\n"
            conn.sendall(b"220 go\r\n")
            with self.ctx.wrap_socket(conn, server_side=True) as tls_conn:
                line = read_exactly(tls_conn, 7)
                tls_conn.sendall(b"TLS " + line)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self) -> None:
        self.thread.join(TIMEOUT)
        self.listener.close()
        assert self.error is None, self.error


class UpgradingClient(Handler):
    def __init__(self, client_ctx: ssl.SSLContext) -> None:
        super().__init__()
        self.ctx = client_ctx
        self.got: list[bytes] = []
        self.started = 0
        self.closed = False

    def on_frame(self, frame: bytes) -> None:
        self.got.append(frame)
        if frame == b"READY":
            self.push(b"STARTTLS\r\n")
        elif frame == b"220 go":
            self.start_tls(self.ctx, server_side=False, server_hostname="127.0.0.1")
            self.push(b"HELLO\r\n")
        else:
            self.close()

    def on_tls_started(self) -> None:
        self.started += 1

    def on_close(self) -> None:
        self.closed = True


def client_on(name: str, handler: Handler, port: int) -> None:
    if name == "selectors":
        from asyncframe.adapters.selectors import Loop

        with Loop() as loop:
            loop.connect(handler, "127.0.0.1", port)
            loop.run(timeout=TIMEOUT)
    elif name in ("asyncio", "asyncio-uvloop"):
        import asyncio

        from asyncframe.adapters import asyncio as adapter

        async def main() -> None:
            await adapter.connect(handler, "127.0.0.1", port)
            while not handler.closed:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)

        new_loop = loop_factory("uvloop") if name == "asyncio-uvloop" else None
        run_on_loop(asyncio.wait_for(main(), TIMEOUT), new_loop)
    elif name == "twisted":
        from twisted.internet.threads import blockingCallFromThread

        from asyncframe.adapters import twisted as twisted_adapter
        from asyncframe.testing import running_reactor

        reactor = running_reactor()
        blockingCallFromThread(
            reactor, lambda: twisted_adapter.connect(handler, host="127.0.0.1", port=port)
        )
        assert wait_for(lambda: handler.closed), "the client's connection did not end"
    elif name.startswith("anyio-"):
        import anyio

        from asyncframe.adapters import anyio as anyio_adapter

        async def anyio_run() -> None:
            with anyio.fail_after(TIMEOUT):
                await anyio_adapter.connect(handler, "127.0.0.1", port)

        anyio.run(anyio_run, backend=name.removeprefix("anyio-"))
    else:
        import trio

        from asyncframe.adapters import trio as adapter

        async def run() -> None:
            with trio.fail_after(TIMEOUT):
                await adapter.connect(handler, "127.0.0.1", port)

        trio.run(run)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_client_side_upgrade(name: str, tls: Contexts) -> None:
    peer = TLSPeer(tls[0])
    handler = UpgradingClient(tls[1])
    client_on(name, handler, peer.port)
    peer.join()
    assert handler.got == [b"READY", b"220 go", b"TLS HELLO"]
    assert handler.started == 1
    assert handler.closed


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_client_side_upgrade_fails_on_a_bad_certificate(name: str, tls: Contexts) -> None:
    peer = TLSPeer(tls[0])
    handler = UpgradingClient(ssl.create_default_context())  # does not trust the CA
    client_on(name, handler, peer.port)
    peer.thread.join(TIMEOUT)
    peer.listener.close()
    assert handler.got == [b"READY", b"220 go"]
    assert handler.started == 0
    assert handler.closed


# -- FramedStream.start_tls -------------------------------------------------------


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="asyncio's StreamWriter.start_tls() is Python 3.11+"
)
@pytest.mark.parametrize("loop", LOOPS)
def test_framedstream_asyncio(loop: str, tls: Contexts) -> None:
    from asyncframe.adapters.asyncio import FramedStream

    peer = TLSPeer(tls[0])

    async def main() -> bytes:
        stream = await FramedStream.connect("127.0.0.1", peer.port)
        assert await stream.receive_frame() == b"READY"
        await stream.send(b"STARTTLS\r\n")
        assert await stream.receive_frame() == b"220 go"
        await stream.start_tls(tls[1], server_hostname="127.0.0.1")
        await stream.send(b"HELLO\r\n")
        frame = await stream.receive_frame()
        await stream.aclose()
        return frame

    assert run_on_loop(main(), loop_factory(loop)) == b"TLS HELLO"
    peer.join()


def test_framedstream_trio(tls: Contexts) -> None:
    import trio

    from asyncframe.adapters.trio import FramedStream

    peer = TLSPeer(tls[0])

    async def main() -> bytes:
        stream = await FramedStream.connect("127.0.0.1", peer.port)
        assert await stream.receive_frame() == b"READY"
        await stream.send(b"STARTTLS\r\n")
        assert await stream.receive_frame() == b"220 go"
        await stream.start_tls(tls[1], server_hostname="127.0.0.1")
        await stream.send(b"HELLO\r\n")
        frame = await stream.receive_frame()
        await stream.aclose()
        return frame

    assert trio.run(main) == b"TLS HELLO"
    peer.join()


def test_framedstream_refuses_bytes_past_the_reply(tls: Contexts) -> None:
    import trio

    from asyncframe import ProtocolError
    from asyncframe.adapters.trio import FramedStream

    async def main() -> None:
        left, right = trio.testing.memory_stream_pair()
        stream = FramedStream(left)
        await right.send_all(b"220 go\r\ninjected\r\n")
        assert await stream.receive_frame() == b"220 go"
        with pytest.raises(ProtocolError, match="clear text"):
            await stream.start_tls(tls[1], server_hostname="127.0.0.1")
        assert stream.stream is left  # nothing changed
        assert await stream.receive_frame() == b"injected"
        with pytest.raises(TypeError, match="context"):
            await stream.start_tls("ctx")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="tls_handshake_timeout"):
            await stream.start_tls(tls[1], tls_handshake_timeout=0)

    import trio.testing

    trio.run(main)


class CloseDuringHandshake(Handler):
    """Upgrades on ``STARTTLS``, and closes itself from a timer of the loop while the
    handshake waits for a client that never starts it."""

    def __init__(self, context: ssl.SSLContext, closed: threading.Event) -> None:
        super().__init__()
        self.context = context
        self.closed = closed

    def on_frame(self, frame: bytes) -> None:
        self.push(b"220 go ahead\r\n")
        self.start_tls(self.context)
        self.push(b"never sent\r\n")

    def on_close(self) -> None:
        self.closed.set()


def test_close_during_a_selectors_upgrade_handshake(tls: Contexts) -> None:
    from asyncframe.adapters.selectors import Loop

    closed = threading.Event()
    handlers: list[CloseDuringHandshake] = []

    def factory() -> Handler:
        handlers.append(CloseDuringHandshake(tls[0], closed))
        return handlers[-1]

    with Loop() as loop:
        _, port = loop.listen(factory, "127.0.0.1", 0, tls_handshake_timeout=None)
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        sock.sendall(b"STARTTLS\r\n")
        turns = 0
        while not select.select([sock], [], [], 0)[0] and turns < 1000:
            loop.run(timeout=0.02)  # until the reply is out; the handshake then waits
            turns += 1
        assert read_exactly(sock, 14) == b"220 go ahead\r\n"
        loop.call_soon(handlers[0].close)
        turns = 0
        while not closed.is_set() and turns < 1000:
            loop.run(timeout=0.02)
            turns += 1
        assert closed.is_set()
        assert closed_by_server(sock)
