"""Unix domain sockets, existing sockets (``sock=``) and ``reuse_port`` on every
adapter: servers and clients over real sockets."""

from __future__ import annotations

import errno
import os
import socket
import ssl
import stat
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from asyncframe import Handler
from asyncframe.testing import (
    AdapterUnderTest,
    AnyioAdapter,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    TwistedAdapter,
)
from asyncframe.testing._adapters import run_on_loop, serving

from .conftest import TIMEOUT, loop_factory, read_exactly, uvloop_adapter, wait_for

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

needs_unix = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix domain sockets")
needs_reuse_port = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT on this platform"
)


@pytest.fixture(params=sorted(ADAPTERS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Echo(Handler):
    def on_frame(self, frame: bytes) -> None:
        self.push(frame + b"\r\n")


def unix_client(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.connect(path)
    return sock


def short_path(tmp_path: Path) -> str:
    # A Unix socket's path is limited to about 100 bytes: pytest's can be longer.
    base = tmp_path if len(str(tmp_path)) < 80 else Path("/tmp")
    return str(base / f"af-{os.getpid()}-{threading.get_ident() % 10000}.sock")


@needs_unix
def test_unix_server(name: str, tmp_path: Path) -> None:
    path = short_path(tmp_path)
    with serving(ADAPTERS[name](), Echo, path=path) as address:
        assert address == path
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        with unix_client(path) as sock:
            sock.sendall(b"over unix\r\n")
            assert read_exactly(sock, 11) == b"over unix\r\n"
    os.remove(path)  # left to the caller, as asyncio does


@needs_unix
def test_unix_server_over_tls(name: str, tmp_path: Path, tls: Contexts) -> None:
    path = short_path(tmp_path)
    with (
        serving(ADAPTERS[name](), Echo, path=path, ssl=tls[0]),
        tls[1].wrap_socket(unix_client(path), server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(b"tls\r\n")
        assert read_exactly(sock, 5) == b"tls\r\n"
    os.remove(path)


@needs_unix
def test_a_stale_socket_file_is_replaced(name: str, tmp_path: Path) -> None:
    path = short_path(tmp_path)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays: a server that did not clean up
    assert os.path.exists(path)
    with serving(ADAPTERS[name](), Echo, path=path), unix_client(path) as sock:
        sock.sendall(b"x\r\n")
        assert read_exactly(sock, 3) == b"x\r\n"
    os.remove(path)


@needs_unix
def test_another_file_at_the_path_is_left_alone(tmp_path: Path) -> None:
    from asyncframe.adapters.selectors import Loop

    path = short_path(tmp_path)
    Path(path).write_bytes(b"precious")
    try:
        with Loop() as loop, pytest.raises(OSError, match="in use") as info:
            loop.listen(Echo, path=path)
        assert info.value.errno == errno.EADDRINUSE
        assert Path(path).read_bytes() == b"precious"
    finally:
        os.remove(path)


def test_an_existing_listening_socket(name: str) -> None:
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    with serving(ADAPTERS[name](), Echo, sock=listening) as address:
        assert address == ("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"inherited\r\n")
            assert read_exactly(sock, 11) == b"inherited\r\n"
    assert listening.fileno() == -1  # the server owned it, and closed it


@needs_reuse_port
def test_reuse_port_lets_two_servers_share_a_port(name: str) -> None:
    first, second = ADAPTERS[name](), ADAPTERS[name]()
    listening = socket.create_server(("127.0.0.1", 0), reuse_port=True)
    port = listening.getsockname()[1]
    listening.close()
    opened = []
    try:
        for adapter in (first, second):
            sock = socket.create_server(("127.0.0.1", port), reuse_port=True)
            opened.append(adapter)
            adapter.start(Echo, sock=sock)
        for _ in range(4):
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                sock.sendall(b"r\r\n")
                assert read_exactly(sock, 3) == b"r\r\n"
    finally:
        for adapter in opened:
            adapter.stop()


@needs_reuse_port
def test_reuse_port_option() -> None:
    """``reuse_port=True`` on the port a server makes: a second one may bind it; without
    it, the bind fails."""
    from asyncframe.adapters.selectors import Loop

    with Loop() as loop:
        _, port = loop.listen(Echo, "127.0.0.1", 0, reuse_port=True)
        loop.listen(Echo, "127.0.0.1", port, reuse_port=True)
        with pytest.raises(OSError, match="in use") as info:
            loop.listen(Echo, "127.0.0.1", port)
        assert info.value.errno == errno.EADDRINUSE


def test_bad_arguments() -> None:
    from asyncframe.adapters.selectors import Loop

    with Loop() as loop:
        with pytest.raises(ValueError, match="host and port are not used with path"):
            loop.listen(Echo, "127.0.0.1", 0, path="/tmp/x.sock")
        with socket.socket() as unused, pytest.raises(ValueError, match="not both"):
            loop.listen(Echo, path="/tmp/x.sock", sock=unused)
        with pytest.raises(TypeError, match="port is needed"):
            loop.listen(Echo)
        with pytest.raises(TypeError, match="path must be"):
            loop.listen(Echo, path=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"sock must be a socket\.socket"):
            loop.listen(Echo, sock=3)  # type: ignore[arg-type]
        with socket.socket() as unbound, pytest.raises(ValueError, match="listening socket"):
            loop.listen(Echo, sock=unbound)
        with (
            socket.socket(type=socket.SOCK_DGRAM) as udp,
            pytest.raises(ValueError, match="SOCK_STREAM"),
        ):
            loop.listen(Echo, sock=udp)
        with pytest.raises(TypeError, match="reuse_port must be a bool"):
            loop.listen(Echo, "127.0.0.1", 0, reuse_port=1)  # type: ignore[arg-type]
        with socket.socket() as unconnected, pytest.raises(ValueError, match="connected socket"):
            loop.connect(Echo(), sock=unconnected)
        with pytest.raises(TypeError, match="a host and a port"):
            loop.connect(Echo())
        assert loop.connections == 0


# -- clients over a Unix socket and over a connected socket ------------------------


class Greeter(Handler):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[bytes] = []
        self.closed = False

    def on_connect(self) -> None:
        self.push(b"hello\r\n")

    def on_frame(self, frame: bytes) -> None:
        self.got.append(frame)
        self.close()

    def on_close(self) -> None:
        self.closed = True


def run_client(name: str, handler: Greeter, **where: Any) -> None:
    if name == "selectors":
        from asyncframe.adapters.selectors import Loop

        with Loop() as loop:
            loop.connect(handler, **where)
            loop.run(timeout=TIMEOUT)
    elif name in ("asyncio", "asyncio-uvloop"):
        import asyncio

        from asyncframe.adapters import asyncio as adapter

        async def main() -> None:
            await adapter.connect(handler, **where)
            while not handler.closed:
                await asyncio.sleep(0.01)

        new_loop = loop_factory("uvloop") if name == "asyncio-uvloop" else None
        run_on_loop(asyncio.wait_for(main(), TIMEOUT), new_loop)
    elif name == "twisted":
        from twisted.internet.threads import blockingCallFromThread

        from asyncframe.adapters import twisted as twisted_adapter
        from asyncframe.testing import running_reactor

        reactor = running_reactor()
        blockingCallFromThread(reactor, lambda: twisted_adapter.connect(handler, **where))
        assert wait_for(lambda: handler.closed), "the client's connection did not end"
    elif name.startswith("anyio-"):
        import anyio

        from asyncframe.adapters import anyio as anyio_adapter

        async def anyio_run() -> None:
            with anyio.fail_after(TIMEOUT):
                await anyio_adapter.connect(handler, **where)

        anyio.run(anyio_run, backend=name.removeprefix("anyio-"))
    else:
        import trio

        from asyncframe.adapters import trio as adapter

        async def run() -> None:
            with trio.fail_after(TIMEOUT):
                await adapter.connect(handler, **where)

        trio.run(run)


def answer_once(listening: socket.socket) -> threading.Thread:
    """Accept one connection on *listening*, read its line, answer it, in a thread."""

    def serve() -> None:
        conn, _ = listening.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            line = read_exactly(conn, 7)
            conn.sendall(b"got " + line)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@needs_unix
def test_unix_client(name: str, tmp_path: Path) -> None:
    path = short_path(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listening:
        listening.bind(path)
        listening.listen()
        thread = answer_once(listening)
        handler = Greeter()
        run_client(name, handler, path=path)
        thread.join(TIMEOUT)
    os.remove(path)
    assert handler.got == [b"got hello"]
    assert handler.closed


def test_client_on_a_connected_socket(name: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        thread = answer_once(listening)
        connected = socket.create_connection(listening.getsockname()[:2], timeout=TIMEOUT)
        handler = Greeter()
        run_client(name, handler, sock=connected)
        thread.join(TIMEOUT)
    assert handler.got == [b"got hello"]
    assert handler.closed


@needs_unix
def test_client_on_a_socketpair(name: str) -> None:
    ours, theirs = socket.socketpair()
    theirs.settimeout(TIMEOUT)

    def peer() -> None:
        with theirs:
            theirs.sendall(b"got " + read_exactly(theirs, 7))

    thread = threading.Thread(target=peer, daemon=True)
    thread.start()
    handler = Greeter()
    run_client(name, handler, sock=ours)
    thread.join(TIMEOUT)
    assert handler.got == [b"got hello"]
