"""The asyncio adapters over real loopback sockets and real event loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from asyncframe import Data, Handler, Terminator
from asyncframe.adapters.asyncio import FramedStream, HandlerProtocol, connect, serve
from asyncframe.testing._adapters import run_on_loop

from .conftest import (
    LOOPS,
    TIMEOUT,
    Flood,
    check_accept_backoff,
    idle_memory,
    loop_factory,
    many_requests_in_one_send,
    request_then_reset,
)
from .handlers import BigReplies, EndlessFeed, HugeThenQuit, LineHandler, TailReplyHandler

T = TypeVar("T")

#: What makes the event loop of the test running now (None: asyncio's own).
new_loop: Callable[[], Any] | None = None


@pytest.fixture(autouse=True, params=LOOPS)
def loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on each event loop: asyncio's own, then uvloop."""
    monkeypatch.setattr(sys.modules[__name__], "new_loop", loop_factory(request.param))
    return str(request.param)


def run(main: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        if new_loop is not None:  # the loop is the one the test asked for
            assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        return await asyncio.wait_for(main(), TIMEOUT)

    return run_on_loop(bounded(), new_loop)


class Recording:
    """A handler factory that remembers the handlers it made."""

    def __init__(self, cls: type[LineHandler] = LineHandler) -> None:
        self.cls = cls
        self.handlers: list[LineHandler] = []

    def __call__(self) -> LineHandler:
        handler = self.cls()
        self.handlers.append(handler)
        return handler


async def start(factory: Callable[[], Handler], **kwargs: Any) -> tuple[asyncio.Server, int]:
    server = await serve(factory, "127.0.0.1", 0, **kwargs)
    return server, server.sockets[0].getsockname()[1]


async def wait_until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


def test_one_byte_at_a_time() -> None:
    async def main() -> bytes:
        server, port = await start(LineHandler)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for byte in b"ECHO hello\nBLOB 3\nxyz":
                writer.write(bytes([byte]))
                await writer.drain()
            got = await reader.readexactly(len(b"hello\nGOT 3 363\n"))
            writer.close()
            await writer.wait_closed()
            return got

    assert run(main) == b"hello\nGOT 3 363\n"


def test_close_when_done_sends_everything_first() -> None:
    async def main() -> bytes:
        server, port = await start(LineHandler)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ECHO one\nQUIT\nECHO ignored\n")
            got = await reader.read()
            writer.close()
            await writer.wait_closed()
            return got

    assert run(main) == b"one\nBYE\n"


def test_close_after_close_when_done_ends_a_connection_whose_peer_does_not_read() -> None:
    """close() means now, also once close_when_done() has handed every byte to a
    transport that is still flushing them to a peer that reads nothing."""

    async def main() -> None:
        listening = socket.create_server(("127.0.0.1", 0))
        # Small kernel buffers on both ends (accepted sockets inherit SO_SNDBUF), so
        # that most of a 40 KiB reply waits in asyncio's own buffer: under its 64 KiB
        # high-water mark, so the transport is asked to close while still writing.
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        recording = Recording()
        server = await serve(recording, sock=listening)
        port = listening.getsockname()[1]
        async with server:
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.setblocking(False)
            with client:
                await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port))
                await asyncio.get_running_loop().sock_sendall(client, b"BIG 40960\nQUIT\n")
                await wait_until(lambda: bool(recording.handlers))
                handler = recording.handlers[0]
                await wait_until(lambda: handler.lines == [b"BIG 40960", b"QUIT"])
                await wait_until(lambda: handler.buffered_output == 0)
                assert not handler.closed
                handler.close()
                await wait_until(lambda: handler.closed)

    run(main)


def test_backpressure_pauses_the_producer() -> None:
    size = 50_000_000
    handler = LineHandler()
    protocols: list[HandlerProtocol] = []

    def make() -> HandlerProtocol:
        protocols.append(HandlerProtocol(handler))
        return protocols[-1]

    async def main() -> tuple[int, int, bytes]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(make, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=65536)
            writer.write(b"BIG %d\n" % size)
            # The client reads nothing until the transport has paused the writer.
            await wait_until(lambda: bool(protocols) and protocols[0].pause_count > 0)
            pulled_while_paused = handler.pulled
            data = await reader.readexactly(size + 1)
            writer.close()
            await writer.wait_closed()
            return pulled_while_paused, protocols[0].pause_count, data

    pulled, pauses, data = run(main)
    assert pauses > 0
    assert pulled < size // 5
    assert data.count(b"x") == size
    assert data.endswith(b"\n")


@pytest.mark.slow
def test_a_peer_that_sends_without_reading_is_read_on_with_its_input_held() -> None:
    high_water = 65536
    factory = Recording()
    protocols: list[HandlerProtocol] = []

    def make() -> HandlerProtocol:
        protocols.append(HandlerProtocol(factory(), high_water=high_water))
        return protocols[-1]

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(make, "127.0.0.1", 0)
        async with server:
            flood = await asyncio.to_thread(Flood, server.sockets[0].getsockname()[1])
            # The replies pass high_water: input waits, and reading goes on (the
            # sender finishes its whole pipeline before it reads: drain checks).
            await wait_until(
                lambda: bool(factory.handlers) and factory.handlers[0].peak_buffered > high_water
            )
            await asyncio.to_thread(flood.drain)
            assert len(factory.handlers[0].lines) == len(flood.payloads)
            return True

    assert run(main)
    handler = factory.handlers[0]
    # Over the mark by at most one reply: no input is dispatched above it.
    assert high_water < handler.peak_buffered <= high_water + 1024


def test_connections_share_one_receive_buffer() -> None:
    # 200 open connections must not hold a 64 KiB receive buffer each (12.5 MiB).
    import tracemalloc

    async def main() -> int:
        server, port = await start(LineHandler)
        async with server:
            writers = []
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                for _ in range(200):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(b"ECHO x\n")
                    assert await reader.readline() == b"x\n"  # the server has read
                    writers.append(writer)
                grown = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
            for writer in writers:
                writer.close()
            return grown

    grown = run(main)
    assert grown < 200 * 65536 // 4, f"{grown} bytes for 200 connections"


def test_client_side_connect_runs_the_same_handler() -> None:
    class Client(LineHandler):
        def on_connect(self) -> None:
            super().on_connect()
            self.push(b"ECHO ECHO ping\nECHO QUIT\n")

    async def main() -> Client:
        server, port = await start(LineHandler)
        async with server:
            client = await connect(Client(), "127.0.0.1", port)
            await wait_until(lambda: client.closed)
            return client  # type: ignore[return-value]

    client = run(main)
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]
    assert client.events[0] == "connect"
    assert client.events[-1] == "close"


def test_push_from_another_task_is_sent() -> None:
    handlers: list[LineHandler] = []

    def factory() -> LineHandler:
        handlers.append(LineHandler())
        return handlers[-1]

    async def main() -> bytes:
        server, port = await start(factory)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await wait_until(lambda: bool(handlers))
            handlers[0].push(b"from elsewhere\n")
            got = await reader.readexactly(15)
            writer.close()
            await writer.wait_closed()
            return got

    assert run(main) == b"from elsewhere\n"


def test_tls_round_trip_with_handlers(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls

    class Client(LineHandler):
        def on_connect(self) -> None:
            super().on_connect()
            self.push(b"ECHO ECHO secret\nECHO QUIT\n")

    async def main() -> Client:
        server, port = await start(LineHandler, ssl=server_ctx)
        async with server:
            client = await connect(Client(), "127.0.0.1", port, ssl=client_ctx)
            await wait_until(lambda: client.closed)
            return client  # type: ignore[return-value]

    client = run(main)
    assert client.lines[:2] == [b"ECHO secret", b"QUIT"]


def test_tls_half_close_tail_is_answered(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls

    async def main() -> list[object]:
        server, port = await start(TailReplyHandler, ssl=server_ctx)
        async with server:
            stream = await FramedStream.connect("127.0.0.1", port, terminator=b"\n", ssl=client_ctx)
            await stream.send(b"ECHO x\n")
            events = []
            async for event in stream:
                events.append(event)
                if event == Terminator(b"\n"):
                    break
            await stream.aclose()
            return events

    assert run(main) == [Data(b"x"), Terminator(b"\n")]


def test_bad_arguments() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="handler_factory must be callable"):
            await serve(None, "127.0.0.1", 0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="handler must be a Handler"):
            await connect(object(), "127.0.0.1", 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="handler must be a Handler"):
            HandlerProtocol(object())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="high_water must be > 0"):
            HandlerProtocol(LineHandler(), high_water=0)
        with pytest.raises(TypeError, match="read_size must be an int"):
            HandlerProtocol(LineHandler(), read_size=1.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="high_water must be > 0"):
            await serve(LineHandler, "127.0.0.1", 0, high_water=0)
        for port, message in [
            ("0", "port must be an int from 0 to 65535, not str"),
            ("abc", "port must be an int from 0 to 65535, not str"),
            (-1, "port must be from 0 to 65535"),
            (65536, "port must be from 0 to 65535"),
        ]:
            with pytest.raises((TypeError, ValueError), match=message):
                await serve(LineHandler, "127.0.0.1", port)  # type: ignore[arg-type]
            with pytest.raises((TypeError, ValueError), match=message):
                await connect(LineHandler(), "127.0.0.1", port)  # type: ignore[arg-type]

    run(main)


# -- hardening ---------------------------------------------------------------------------


def test_an_endless_producer_whose_peer_leaves_does_not_wedge_the_loop() -> None:
    finished = threading.Event()

    async def main() -> None:
        factory = Recording(EndlessFeed)  # type: ignore[arg-type]
        server, port = await start(factory)
        async with server:
            for _ in range(20):
                await asyncio.to_thread(request_then_reset, port)
            # The others are still served.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GO\n")
            assert await reader.readexactly(10) == b"tick tick "
            writer.close()
            await wait_until(lambda: all(h.closed for h in factory.handlers))
        finished.set()

    # A wedged loop never returns (not even to its own timeout): run it in a thread.
    thread = threading.Thread(target=run_on_loop, args=(main(), new_loop), daemon=True)
    thread.start()
    assert finished.wait(TIMEOUT), "the event loop wedged on a peer that left"
    thread.join(TIMEOUT)


def test_high_water_bounds_the_output_of_one_read() -> None:
    async def main() -> BigReplies:
        factory = Recording(BigReplies)  # type: ignore[arg-type]
        server, port = await start(factory, high_water=65536)
        async with server:
            sock = await asyncio.to_thread(many_requests_in_one_send, port)
            with sock:
                await wait_until(
                    lambda: bool(factory.handlers) and factory.handlers[0].requests > 0
                )
                handler = factory.handlers[0]
                # The peer reads nothing: dispatch stops and the transport stops reading.
                await wait_until(lambda: handler.channel.buffered_input != 0)
                first = handler.requests
                await asyncio.to_thread(sock.recv, 1)
                assert handler.requests == first < 200
            return handler  # type: ignore[return-value]

    handler = run(main)
    assert handler.peak <= 65536 + BigReplies.REPLY


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="before 3.11 asyncio's TLS client cannot finish a close with unread data",
)
def test_tls_close_notify_does_not_pull_every_producer(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls

    class Feed(EndlessFeed):
        LENGTH = 64 << 20

    async def main() -> int:
        factory = Recording(Feed)  # type: ignore[arg-type]
        server, port = await start(factory, ssl=server_ctx, high_water=65536)
        async with server:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost"
            )
            writer.write(b"GO\n")
            await reader.readexactly(10)
            handler = factory.handlers[0]
            assert isinstance(handler, Feed)
            # The client reads no more: wait until the server stops pulling.
            seen: list[int] = []
            while len(seen) < 3 or len(set(seen[-3:])) > 1:
                seen.append(handler.pulled)
                await asyncio.sleep(0.05)
            writer.close()  # sends close_notify
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            await wait_until(lambda: handler.closed)
            return handler.pulled - seen[-1]

    # At most high_water more, not the rest of the feed pulled into memory at once.
    assert run(main) <= 65536 + 4000


def test_close_when_done_after_a_5mb_reply_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)

    async def main() -> None:
        server, port = await start(HugeThenQuit)
        async with server:
            for _ in range(3):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GO\n")
                assert len(await reader.read()) == HugeThenQuit.SIZE
                writer.close()
                await writer.wait_closed()

    run(main)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_serve_on_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")

    async def main() -> None:
        server = await serve(LineHandler, "::1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("::1", port)
            writer.write(b"ECHO six\n")
            assert await reader.readexactly(4) == b"six\n"
            writer.close()

    run(main)


def test_accept_backs_off_when_out_of_descriptors(loop: str) -> None:
    check_accept_backoff("asyncio" if loop == "asyncio" else "asyncio-uvloop")


def test_memory_per_idle_connection(loop: str) -> None:
    # RSS growth over 2,000 idle connections, the server in its own process.
    assert idle_memory("asyncio" if loop == "asyncio" else "asyncio-uvloop") <= 5.0
