"""TLS on the selectors Loop, over real loopback TLS (trustme certificates)."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asyncframe import Handler
from asyncframe.adapters.selectors import Loop
from asyncframe.testing._conformance import _TLSClient, _wait_until_quiet

from .conftest import TIMEOUT, connect, read_exactly, read_until_eof, wait_for
from .handlers import BigReplies, EndlessFeed, LineHandler, TailReplyHandler
from .test_selectors import Client, Server

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]


def tls_connect(port: int, client_ctx: ssl.SSLContext, rcvbuf: int = 0) -> ssl.SSLSocket:
    """A TLS client; with *rcvbuf*, its receive window is that small from the start."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    return client_ctx.wrap_socket(sock, server_hostname="127.0.0.1")


@contextlib.contextmanager
def running(factory: Callable[[], Handler], **options: Any) -> Iterator[Server]:
    server = Server(factory, **options)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def no_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if anything logs a warning or worse (a failed handshake is a debug
    record, never an error of the loop)."""
    caplog.set_level(logging.DEBUG, logger="asyncframe")
    yield
    bad = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not bad, bad


def quiet(value: Callable[[], int], what: str) -> int:
    """*value* once it is positive and has stopped changing."""
    _wait_until_quiet(value, what)
    return value()


def test_echo(tls: Contexts, no_warnings: None) -> None:
    server_ctx, client_ctx = tls
    with running(LineHandler, ssl=server_ctx) as server:
        with tls_connect(server.port, client_ctx) as sock:
            for byte in b"ECHO hello\nBLOB 3\nxyz":
                sock.sendall(bytes([byte]))  # one TLS record per byte
            assert read_exactly(sock, 6) == b"hello\n"
            assert read_exactly(sock, 10) == b"GOT 3 363\n"
            sock.sendall(b"ECHO one\nQUIT\nECHO ignored\n")
            assert read_until_eof(sock) == b"one\nBYE\n"
            handler = server.handlers[0]
            assert isinstance(handler, LineHandler)
            assert handler.peername is not None
            assert handler.peername[:2] == sock.getsockname()[:2]
        assert wait_for(lambda: "close" in handler.events)
        assert handler.events == ["connect", "close"]


def test_many_frames_in_one_record_with_a_small_read_size(tls: Contexts) -> None:
    # One record holds 1,000 lines; the server reads 16 bytes at a time, so after the
    # first read the rest waits decrypted in the TLS layer, where the selector cannot
    # see it: no socket event will come for it.
    server_ctx, client_ctx = tls
    with (
        running(LineHandler, ssl=server_ctx, read_size=16) as server,
        tls_connect(server.port, client_ctx) as sock,
    ):
        lines = [b"line %d" % i for i in range(1000)]
        sock.sendall(b"".join(b"ECHO " + line + b"\n" for line in lines))
        expected = b"".join(line + b"\n" for line in lines)
        assert read_exactly(sock, len(expected)) == expected


class Replies(BigReplies):
    REPLY = 65536


def test_input_held_by_high_water_in_the_tls_layer_is_read_when_output_drains(
    tls: Contexts,
) -> None:
    # 200 requests in one record, read 64 bytes at a time; each reply passes
    # high_water. The client reads nothing until the server stalls: the unread
    # requests then wait in the channel and, decrypted, in the TLS layer. As the
    # client reads, every one of them must be answered, though the socket never
    # becomes readable again; and the output stays bounded meanwhile.
    server_ctx, client_ctx = tls
    high_water = 4096
    with running(Replies, ssl=server_ctx, read_size=64, high_water=high_water) as server:
        with tls_connect(server.port, client_ctx, rcvbuf=65536) as sock:
            sock.sendall(b"R\n" * 200)
            assert wait_for(lambda: server.handlers)
            handler = server.handlers[0]
            assert isinstance(handler, Replies)
            assert quiet(lambda: handler.requests, "the server to stall") < 200
            got = read_exactly(sock, 200 * Replies.REPLY)
            assert got == b"x" * (200 * Replies.REPLY)
        assert handler.requests == 200
        assert handler.peak <= high_water + Replies.REPLY


def test_a_large_reply_to_a_slow_reader_is_pulled_as_it_reads(tls: Contexts) -> None:
    server_ctx, client_ctx = tls
    size = 20_000_000
    with running(LineHandler, ssl=server_ctx) as server:
        with tls_connect(server.port, client_ctx, rcvbuf=65536) as sock:
            sock.sendall(b"BIG %d\n" % size)
            assert wait_for(lambda: server.handlers and server.handlers[0].pulled > 0)
            handler = server.handlers[0]
            assert isinstance(handler, LineHandler)
            # The client reads nothing: the producer stops being pulled, far from its end.
            assert quiet(lambda: handler.pulled, "the producer to stop") < size // 5
            data = read_exactly(sock, size + 1)
        assert len(data) == size + 1
        assert data.count(b"x") == size
        assert data.endswith(b"\n")


def test_close_notify_from_the_peer_is_its_eof(tls: Contexts, no_warnings: None) -> None:
    # TLS 1.3 closes each direction apart: after the client's close_notify the tail is
    # answered, then the server sends its own close_notify and closes.
    server_ctx, client_ctx = tls
    with running(TailReplyHandler, ssl=server_ctx) as server:
        client = _TLSClient(("127.0.0.1", server.port), client_ctx)
        try:
            client.sendall(b"ECHO a\nlast")
            assert read_exactly(client, 2) == b"a\n"
            client.close_notify()
            assert client.read_to_end() == b"TAIL last\n"
            assert client.ended == "close_notify"
        finally:
            client.close()
        handler = server.handlers[0]
        assert isinstance(handler, TailReplyHandler)
        assert wait_for(lambda: "close" in handler.events)
        assert handler.events == ["connect", "eof", "close"]


def test_a_ragged_eof_is_an_eof(tls: Contexts, no_warnings: None) -> None:
    # A TCP FIN without close_notify: on_eof, then on_close (as on the asyncio adapter).
    server_ctx, client_ctx = tls
    with running(TailReplyHandler, ssl=server_ctx) as server:
        with tls_connect(server.port, client_ctx) as sock:
            sock.sendall(b"ECHO a\nlast")
            assert read_exactly(sock, 2) == b"a\n"
            with socket.socket(fileno=os.dup(sock.fileno())) as raw:
                raw.shutdown(socket.SHUT_WR)  # below TLS: no close_notify
            handler = server.handlers[0]
            assert isinstance(handler, TailReplyHandler)
            assert wait_for(lambda: "close" in handler.events)
        assert handler.events == ["connect", "eof", "close"]


class Feed(EndlessFeed):
    LENGTH = 64 << 20


def test_close_notify_does_not_pull_every_producer(tls: Contexts) -> None:
    server_ctx, client_ctx = tls
    with running(Feed, ssl=server_ctx, high_water=65536) as server:
        client = _TLSClient(("127.0.0.1", server.port), client_ctx)
        try:
            client.sendall(b"GO\n")
            assert read_exactly(client, 10) == b"tick tick "
            handler = server.handlers[0]
            assert isinstance(handler, EndlessFeed)
            # The client reads no more: the server stops pulling ...
            before = quiet(lambda: handler.pulled, "the feed to stop")
            client.close_notify()
            # ... and the close_notify does not make it pull the rest of the feed: only
            # what the kernel's buffers take once the client's window moves (sending a
            # byte does as much).
            after = quiet(lambda: handler.pulled, "the feed to stop again")
            assert after - before <= 4 << 20
        finally:
            client.close()
        assert wait_for(lambda: server.loop.connections == 0)


def test_failed_handshakes_close_only_their_connection(
    tls: Contexts, caplog: pytest.LogCaptureFixture, no_warnings: None
) -> None:
    server_ctx, client_ctx = tls
    with running(LineHandler, ssl=server_ctx) as server:
        # A client that does not trust the server's certificate.
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_connect(server.port, ssl.create_default_context())
        # A plain TCP client: the server sees no TLS record.
        with connect(server.port) as sock:
            sock.sendall(b"ECHO plain\n")
            # The server closed with the line unread: a reset is fine too.
            with contextlib.suppress(ConnectionResetError):
                assert read_until_eof(sock) == b""
        # A client that leaves in the middle of the handshake.
        with connect(server.port) as sock:
            sock.sendall(b"\x16\x03\x01\x02\x00")  # the start of a ClientHello

        def failures() -> list[str]:
            return [r.getMessage() for r in caplog.records if "TLS" in r.getMessage()]

        # One debug record for each failed handshake, and no connection left open ...
        assert wait_for(lambda: len(failures()) == 3), failures()
        assert wait_for(lambda: server.loop.connections == 0)
        # ... and no handler was made for them (no on_connect, no on_close).
        assert server.handlers == []
        # Others are served.
        with tls_connect(server.port, client_ctx) as sock:
            sock.sendall(b"ECHO still here\n")
            assert read_exactly(sock, 11) == b"still here\n"


def test_a_silent_peer_is_closed_after_idle_timeout_in_the_handshake(tls: Contexts) -> None:
    server_ctx, _ = tls
    with running(LineHandler, ssl=server_ctx, idle_timeout=0.2) as server:
        with connect(server.port) as sock:
            assert read_until_eof(sock) == b""  # the server closed it
        assert server.handlers == []


@pytest.mark.parametrize(
    ("host", "server_hostname"), [("127.0.0.1", None), ("::1", "localhost")], ids=["ipv4", "ipv6"]
)
def test_client_and_server_on_one_loop(
    tls: Contexts, host: str, server_hostname: str | None
) -> None:
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    server_ctx, client_ctx = tls
    with Loop() as loop:
        _, port = loop.listen(LineHandler, host, 0, ssl=server_ctx)
        client = Client(loop)
        loop.connect(client, host, port, ssl=client_ctx, server_hostname=server_hostname)
        loop.run(timeout=TIMEOUT)
    # The client echoes the server's replies back as commands: "ping" -> ERR, QUIT -> BYE.
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]
    assert client.events[0] == "connect"
    assert client.events[-1] == "close"


def test_a_client_whose_handshake_fails_gets_on_close_only(tls: Contexts) -> None:
    # As when the connection is refused: on_close() tells the client it failed.
    server_ctx, _ = tls
    with Loop() as loop:
        _, port = loop.listen(LineHandler, "127.0.0.1", 0, ssl=server_ctx)
        client = Client(loop)
        loop.connect(client, "127.0.0.1", port, ssl=ssl.create_default_context())
        loop.run(timeout=TIMEOUT)
    assert client.events == ["close"]


class Interrupted(ssl.SSLSocket):
    """A TLS socket whose first receive after the handshake must write first, and whose
    first send must wait for the peer's next record (as a renegotiation or a key
    update may make them): it fails until the socket is readable."""

    recv_interrupted = False
    send_blocked = True
    send_waits = 0

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if not Interrupted.recv_interrupted:
            Interrupted.recv_interrupted = True
            raise ssl.SSLWantWriteError("injected")
        return super().recv(buflen, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        if Interrupted.send_blocked:
            if not select.select([self], [], [], 0)[0]:
                Interrupted.send_waits += 1
                raise ssl.SSLWantReadError("injected")
            Interrupted.send_blocked = False
        return super().send(data, flags)


def test_want_write_while_receiving_and_want_read_while_sending(
    tls: Contexts, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_ctx, client_ctx = tls
    monkeypatch.setattr(server_ctx, "sslsocket_class", Interrupted)
    for name, value in vars(Interrupted).items():
        if not name.startswith("_") and not callable(value):
            monkeypatch.setattr(Interrupted, name, value)
    with running(LineHandler, ssl=server_ctx) as server:
        with tls_connect(server.port, client_ctx) as sock:
            # The receive is retried once the socket is writable ...
            sock.sendall(b"ECHO a\n")
            assert wait_for(lambda: Interrupted.send_waits)
            # ... and the send once it is readable (not before: no busy loop), which
            # the next request makes it.
            sock.sendall(b"ECHO b\n")
            assert read_exactly(sock, 4) == b"a\nb\n"
        assert Interrupted.recv_interrupted
        assert Interrupted.send_waits == 1


def test_bad_arguments(tls: Contexts) -> None:
    _, client_ctx = tls
    with Loop() as loop:
        with pytest.raises(TypeError, match=r"ssl must be an ssl\.SSLContext or None, not object"):
            loop.listen(LineHandler, "127.0.0.1", 0, ssl=object())  # type: ignore[arg-type]
        with pytest.raises(
            TypeError, match=r"ssl must be an ssl\.SSLContext, True or None, not str"
        ):
            loop.connect(LineHandler(), "127.0.0.1", 1, ssl="yes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
            loop.connect(LineHandler(), "127.0.0.1", 1, server_hostname="localhost")
        with pytest.raises(TypeError, match="server_hostname must be a str or None, not int"):
            loop.connect(
                LineHandler(),
                "127.0.0.1",
                1,
                ssl=client_ctx,
                server_hostname=1,  # type: ignore[arg-type]
            )
        with pytest.raises(ValueError, match=r"server_hostname is empty, but ssl\.check_hostname"):
            loop.connect(LineHandler(), "127.0.0.1", 1, ssl=client_ctx, server_hostname="")
        assert not loop._listeners
        assert loop.connections == 0


def test_closing_the_loop_in_a_handshake_closes_the_client(tls: Contexts) -> None:
    _, client_ctx = tls
    handler = LineHandler()
    # A server that accepts (in its backlog) and never answers the ClientHello.
    with socket.create_server(("127.0.0.1", 0)) as silent, Loop() as loop:
        loop.connect(handler, "127.0.0.1", silent.getsockname()[1], ssl=client_ctx)
        peer, _ = silent.accept()
        with peer:
            deadline = time.monotonic() + TIMEOUT
            while not select.select([peer], [], [], 0)[0] and time.monotonic() < deadline:
                loop.run(timeout=0.01)  # until the ClientHello is out
            assert peer.recv(1) == b"\x16"  # a TLS handshake record
            assert loop.connections == 1
            loop.close()
    assert handler.events == ["close"]
