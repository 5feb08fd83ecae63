"""The anyio adapters over real loopback sockets (and TLS), on both of anyio's backends."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread
import pytest
from anyio.streams.tls import TLSStream

from asyncframe import Handler
from asyncframe.adapters.anyio import FramedStream, connect, run_handler, serve

from .conftest import TIMEOUT, Flood, check_accept_backoff
from .handlers import LineHandler

T = TypeVar("T")
Contexts = tuple[ssl.SSLContext, ssl.SSLContext]


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def run(backend: str, main: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        with anyio.fail_after(TIMEOUT):  # a hang fails here, not in pytest-timeout
            return await main()

    return anyio.run(bounded, backend=backend)


class Recording:
    def __init__(self, cls: type[LineHandler] = LineHandler) -> None:
        self.cls = cls
        self.handlers: list[LineHandler] = []

    def __call__(self) -> LineHandler:
        self.handlers.append(self.cls())
        return self.handlers[-1]


async def start(tg: anyio.abc.TaskGroup, factory: Callable[[], Handler], **kw: Any) -> int:
    listeners = await tg.start(partial(serve, factory, "127.0.0.1", 0, **kw))
    port: int = listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    return port


async def wait_until(predicate: Callable[[], bool]) -> None:
    # Bounded by run()'s deadline.
    while not predicate():
        await anyio.sleep(0.005)


async def read_exactly(stream: anyio.abc.ByteReceiveStream, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        try:
            got += await stream.receive(size - len(got))
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            break
    return bytes(got)


async def read_to_end(stream: anyio.abc.ByteReceiveStream) -> bytes:
    got = bytearray()
    while True:
        try:
            got += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return bytes(got)


class Client(LineHandler):
    """Asks the server to echo two lines, the second one QUIT."""

    def on_connect(self) -> None:
        super().on_connect()
        self.push(b"ECHO ECHO ping\nECHO QUIT\n")


@pytest.fixture
def socket_path() -> Iterator[str]:
    # A short path: AF_UNIX paths are limited to about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="af-") as where:
        yield os.path.join(where, "s")


def test_echo_one_byte_at_a_time(backend: str) -> None:
    async def main() -> bytes:
        async with anyio.create_task_group() as tg:
            port = await start(tg, LineHandler)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                for byte in b"ECHO hello\nBLOB 3\nxyz":
                    await stream.send(bytes([byte]))
                got = await read_exactly(stream, len(b"hello\nGOT 3 363\n"))
            tg.cancel_scope.cancel()
        return got

    assert run(backend, main) == b"hello\nGOT 3 363\n"


def test_close_when_done_sends_everything_first(backend: str) -> None:
    async def main() -> bytes:
        async with anyio.create_task_group() as tg:
            port = await start(tg, LineHandler)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(b"ECHO one\nQUIT\nECHO ignored\n")
                got = await read_to_end(stream)
            tg.cancel_scope.cancel()
        return got

    assert run(backend, main) == b"one\nBYE\n"


def test_serve_and_connect_run_the_same_handler(backend: str) -> None:
    factory = Recording()

    async def main() -> Handler:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory)
            client = await connect(Client(), "127.0.0.1", port)
            tg.cancel_scope.cancel()
        return client

    client = run(backend, main)
    assert isinstance(client, Client)
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]
    assert client.events == ["connect", "close"]
    assert factory.handlers[0].lines[:2] == [b"ECHO ECHO ping", b"ECHO QUIT"]


def test_connect_under_task_group_start_and_peername(backend: str) -> None:
    factory = Recording()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory)
            client = LineHandler()
            got = await tg.start(partial(connect, client, "127.0.0.1", port))
            assert got is client  # returned once connected; runs on in the task group
            assert client.peername == ("127.0.0.1", port)
            client.push(b"ECHO ECHO x\n")
            await wait_until(lambda: client.lines[:1] == [b"ECHO x"])
            assert factory.handlers[0].peername[0] == "127.0.0.1"
            client.close()
            await wait_until(lambda: client.closed)
            tg.cancel_scope.cancel()

    run(backend, main)


def test_cancelling_serve_closes_connections_and_calls_on_close(backend: str) -> None:
    factory = Recording()

    async def main() -> bytes:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory)
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.send(b"ECHO hi\n")
            assert await read_exactly(stream, 3) == b"hi\n"
            tg.cancel_scope.cancel()
        got = await read_to_end(stream)
        await stream.aclose()
        return got

    assert run(backend, main) == b""
    assert factory.handlers[0].events == ["connect", "close"]


def test_push_from_another_task_is_sent(backend: str) -> None:
    factory = Recording()

    async def main() -> bytes:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await wait_until(lambda: bool(factory.handlers))
                factory.handlers[0].push(b"from elsewhere\n")
                got = await read_exactly(stream, 15)
            tg.cancel_scope.cancel()
        return got

    assert run(backend, main) == b"from elsewhere\n"


def test_a_pipeline_written_before_its_replies_are_read_completes(backend: str) -> None:
    # 200 requests of 100 kB, sent in one go by a peer that reads nothing until it
    # has sent them all: the server reads on while its replies wait (high_water is
    # far below one reply), or the peer's send never finishes.
    high_water = 16384
    factory = Recording()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory, high_water=high_water)
            flood = await anyio.to_thread.run_sync(partial(Flood, port, lines=200, size=100_000))
            await anyio.to_thread.run_sync(flood.drain)  # checks every reply, in order
            assert len(factory.handlers[0].lines) == 200
            tg.cancel_scope.cancel()

    run(backend, main)
    # Over the mark by at most one reply: no input is dispatched above it.
    assert factory.handlers[0].peak_buffered <= high_water + 100_001


def test_a_large_producer_is_pulled_as_the_peer_reads(backend: str) -> None:
    size = 20_000_000
    factory = Recording()

    async def main() -> tuple[int, bytes]:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                await stream.send(b"BIG %d\n" % size)
                await wait_until(lambda: bool(factory.handlers) and factory.handlers[0].pulled > 0)
                handler = factory.handlers[0]
                # The client reads nothing until the producer stops being pulled
                # (the socket's buffers are full).
                seen = [-1, -2, -3]
                while len(set(seen[-3:])) > 1:
                    seen.append(handler.pulled)
                    await anyio.sleep(0.05)
                pulled = handler.pulled
                data = await read_exactly(stream, size + 1)
            tg.cancel_scope.cancel()
        return pulled, data

    pulled, data = run(backend, main)
    assert pulled < size // 5
    assert data.count(b"x") == size
    assert data.endswith(b"\n")


def test_framedstream_against_serve(backend: str) -> None:
    async def main() -> tuple[bytes, list[bytes], bytes]:
        async with anyio.create_task_group() as tg:
            port = await start(tg, LineHandler)
            async with await FramedStream.connect("127.0.0.1", port, terminator=b"\n") as fs:
                await fs.send(b"ECHO first\n")
                first = await fs.receive_frame()
                await fs.send(b"ECHO a\nECHO b\nBLOB 2\nhi")
                rest = [await fs.receive_frame() for _ in range(3)]
                await fs.send(b"ECHO tail\nQUIT\n")
                after = [frame async for frame in fs.frames()]
                trailing = fs.trailing_data
            tg.cancel_scope.cancel()
        return first, rest + after, trailing

    first, frames, trailing = run(backend, main)
    assert first == b"first"
    assert frames == [b"a", b"b", b"GOT 2 209", b"tail", b"BYE"]
    assert trailing == b""


def test_framedstream_over_a_stream_it_is_given(backend: str) -> None:
    async def main() -> list[Any]:
        async with anyio.create_task_group() as tg:
            port = await start(tg, LineHandler)
            stream = await anyio.connect_tcp("127.0.0.1", port)
            async with FramedStream(stream, b"\n") as fs:
                await fs.send(b"ECHO x\nQUIT\n")
                events = [event async for event in fs]
            tg.cancel_scope.cancel()
        return events

    from asyncframe import ConnectionClosed, Data, Terminator

    events = run(backend, main)
    assert events == [
        Data(b"x"),
        Terminator(b"\n"),
        Data(b"BYE"),
        Terminator(b"\n"),
        ConnectionClosed(),
    ]


def test_tls_serve_and_connect(backend: str, tls: Contexts) -> None:
    server_ctx, client_ctx = tls
    factory = Recording()

    async def main() -> Handler:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory, ssl=server_ctx)
            client = await connect(Client(), "127.0.0.1", port, ssl=client_ctx)
            tg.cancel_scope.cancel()
        return client

    client = run(backend, main)
    assert isinstance(client, Client)
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]
    assert client.ssl_object is None  # TLS from the start: no upgrade
    assert factory.handlers[0].lines[:2] == [b"ECHO ECHO ping", b"ECHO QUIT"]


def test_run_handler_over_a_tls_stream(backend: str, tls: Contexts) -> None:
    server_ctx, client_ctx = tls

    async def main() -> Handler:
        async with anyio.create_task_group() as tg:
            port = await start(tg, LineHandler, ssl=server_ctx)
            tcp = await anyio.connect_tcp("127.0.0.1", port)
            stream = await TLSStream.wrap(tcp, hostname="127.0.0.1", ssl_context=client_ctx)
            client = Client()
            await run_handler(client, stream)
            tg.cancel_scope.cancel()
        return client

    client = run(backend, main)
    assert isinstance(client, Client)
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]
    assert client.peername[0] == "127.0.0.1"


def test_a_silent_tls_client_is_closed_by_the_handshake_timeout(
    backend: str, tls: Contexts
) -> None:
    factory = Recording()

    async def main() -> bytes:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory, ssl=tls[0], tls_handshake_timeout=0.2)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                got = await read_to_end(stream)  # says nothing: closed by the server
            tg.cancel_scope.cancel()
        return got

    assert run(backend, main) == b""
    assert factory.handlers == []  # no handler before the handshake completed


def test_connect_fails_on_a_certificate_it_does_not_trust(backend: str, tls: Contexts) -> None:
    async def main() -> None:
        async with anyio.create_task_group() as tg:
            port = await start(tg, LineHandler, ssl=tls[0])
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(Client(), "127.0.0.1", port, ssl=ssl.create_default_context())
            tg.cancel_scope.cancel()

    run(backend, main)


def test_unix_socket_path(backend: str, socket_path: str) -> None:
    factory = Recording()

    async def main() -> Handler:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(serve, factory, path=socket_path))
            client = await connect(Client(), path=socket_path)
            tg.cancel_scope.cancel()
        return client

    client = run(backend, main)
    assert isinstance(client, Client)
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]
    assert factory.handlers[0].lines[:2] == [b"ECHO ECHO ping", b"ECHO QUIT"]


def test_sock_a_listening_and_a_connected_socket(backend: str) -> None:
    factory = Recording()
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]

    async def main() -> Handler:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(serve, factory, sock=listening))  # the server owns it
            connected = socket.create_connection(("127.0.0.1", port))
            client = await connect(Client(), sock=connected)
            tg.cancel_scope.cancel()
        return client

    client = run(backend, main)
    assert isinstance(client, Client)
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]
    assert listening.fileno() == -1  # closed when the server stopped


def test_sock_a_connected_unix_socket(backend: str, socket_path: str) -> None:
    async def main() -> Handler:
        async with anyio.create_task_group() as tg:
            await tg.start(partial(serve, LineHandler, path=socket_path))
            connected = socket.socket(socket.AF_UNIX)
            connected.connect(socket_path)
            client = await connect(Client(), sock=connected)
            tg.cancel_scope.cancel()
        return client

    client = run(backend, main)
    assert isinstance(client, Client)
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
def test_reuse_port_lets_two_servers_share_a_port(backend: str) -> None:
    async def main() -> list[bytes]:
        async with anyio.create_task_group() as tg:
            port = await start(tg, LineHandler, reuse_port=True)
            await tg.start(partial(serve, LineHandler, "127.0.0.1", port, reuse_port=True))
            got = []
            for i in range(4):
                async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                    await stream.send(b"ECHO %d\n" % i)
                    got.append(await read_exactly(stream, 2))
            tg.cancel_scope.cancel()
        return got

    assert run(backend, main) == [b"0\n", b"1\n", b"2\n", b"3\n"]


def test_idle_timeout_closes_a_silent_connection(backend: str) -> None:
    factory = Recording()

    async def main() -> bytes:
        async with anyio.create_task_group() as tg:
            port = await start(tg, factory, idle_timeout=0.2)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(b"ECHO awake\n")
                got = await read_to_end(stream)  # then silent: closed by the server
            tg.cancel_scope.cancel()
        return got

    assert run(backend, main) == b"awake\n"
    assert factory.handlers[0].events == ["connect", "close"]


def test_a_raising_callback_closes_its_connection_only(backend: str) -> None:
    async def main() -> tuple[bytes, bytes]:
        async with anyio.create_task_group() as tg:
            port = await start(tg, LineHandler)
            async with (
                await anyio.connect_tcp("127.0.0.1", port) as other,
                await anyio.connect_tcp("127.0.0.1", port) as victim,
            ):
                await victim.send(b"BOOM\n")
                from_victim = await read_to_end(victim)
                await other.send(b"ECHO still\n")
                from_other = await read_exactly(other, 6)
            tg.cancel_scope.cancel()
        return from_victim, from_other

    assert run(backend, main) == (b"", b"still\n")


def test_bad_arguments(backend: str, tls: Contexts) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="handler_factory must be callable"):
            await serve(None, "127.0.0.1", 0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="handler must be a Handler"):
            await connect(object(), "127.0.0.1", 1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="high_water must be > 0"):
            await serve(LineHandler, "127.0.0.1", 0, high_water=0)
        with pytest.raises(TypeError, match="a port is needed"):
            await serve(LineHandler, "127.0.0.1")
        with pytest.raises(ValueError, match="ssl is a client-side context"):
            await serve(LineHandler, "127.0.0.1", 0, ssl=tls[1])
        with pytest.raises(TypeError, match=r"ssl must be an ssl\.SSLContext"):
            await connect(LineHandler(), "127.0.0.1", 1, ssl=True)  # type: ignore[arg-type]
        with (
            socket.socket() as unused,
            pytest.raises(ValueError, match="give path= or sock=, not both"),
        ):
            await serve(LineHandler, path="/tmp/x", sock=unused)
        with pytest.raises(TypeError, match=r"sock must be a socket\.socket"):
            await connect(LineHandler(), sock=3)  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError), match="tls_handshake_timeout"):
            await serve(LineHandler, "127.0.0.1", 0, tls_handshake_timeout=-1)
        for port, message in [
            ("0", "port must be an int from 0 to 65535, not str"),
            (-1, "port must be from 0 to 65535"),
        ]:
            with pytest.raises((TypeError, ValueError), match=message):
                await serve(LineHandler, "127.0.0.1", port)  # type: ignore[arg-type]
            with pytest.raises((TypeError, ValueError), match=message):
                await connect(LineHandler(), "127.0.0.1", port)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"stream must be an anyio\.abc\.ByteStream"):
            await run_handler(LineHandler(), object())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"stream must be an anyio\.abc\.ByteStream"):
            FramedStream(object())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="read_size must be > 0"):
            await FramedStream.connect("127.0.0.1", 1, read_size=0)

    run(backend, main)


def test_accept_backs_off_and_logs_once_per_burst_out_of_descriptors(backend: str) -> None:
    check_accept_backoff(f"anyio-{backend}")


def test_missing_anyio_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['anyio'] = None\n"
        "try:\n"
        "    import asyncframe.adapters.anyio\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert 'pip install "asyncframe[anyio]"' in out


def test_the_kit_runs_without_anyio_and_its_adapter_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['anyio'] = None\n"
        "from asyncframe.testing import AnyioAdapter, SelectorsAdapter, check_peername\n"
        "check_peername(SelectorsAdapter())\n"
        "try:\n"
        "    check_peername(AnyioAdapter())\n"
        "except ImportError as exc:\n"
        "    print('anyio:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert 'anyio: AnyioAdapter needs anyio: pip install "asyncframe[anyio]"' in out


def test_the_kit_adapter_refuses_an_unknown_backend() -> None:
    from asyncframe.testing import AnyioAdapter

    with pytest.raises(ValueError, match="backend must be"):
        AnyioAdapter("curio")
