"""The Twisted adapter, over real loopback sockets, on the process's one running reactor.

The conformance kit runs every behavioural check on it (tests/testing); these tests
are about what is Twisted's own: endpoints, a Handler next to Twisted protocols on
one reactor, Twisted's clients, and the client side.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
import trustme
from twisted.internet import defer, endpoints, protocol
from twisted.internet.threads import blockingCallFromThread
from twisted.protocols.basic import LineReceiver

from asyncframe import Handler
from asyncframe.adapters.twisted import HandlerFactory, HandlerProtocol, connect, listen
from asyncframe.testing import running_reactor

from .conftest import TIMEOUT, read_exactly, read_until_eof
from .conftest import connect as tcp_connect

reactor = running_reactor()


def on_reactor(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call *func* in the reactor's thread; its result (a Deferred's, once fired)."""
    return blockingCallFromThread(reactor, func, *args, **kwargs)


class Upper(Handler):
    """``x`` → ``X``; ``QUIT`` → ``BYE`` and a close."""

    def __init__(self) -> None:
        super().__init__(b"\r\n")
        self.done = threading.Event()

    def on_frame(self, frame: bytes) -> None:
        if frame == b"QUIT":
            self.push(b"BYE\r\n")
            self.close_when_done()
        else:
            self.push(frame.upper() + b"\r\n")

    def on_close(self) -> None:
        self.done.set()


class Lower(LineReceiver):
    """An existing Twisted server: ``X`` → ``x``."""

    def lineReceived(self, line: bytes) -> None:
        self.sendLine(line.lower())


class Collect(LineReceiver):
    """Twisted's side of a conversation: sends *lines*, fires *done* with the replies."""

    def __init__(self, lines: list[bytes], done: defer.Deferred[list[bytes]]) -> None:
        self.lines = lines
        self.replies: list[bytes] = []
        self.done = done

    def connectionMade(self) -> None:
        for line in self.lines:
            self.sendLine(line)

    def lineReceived(self, line: bytes) -> None:
        self.replies.append(line)

    def connectionLost(self, reason: Any = protocol.connectionDone) -> None:
        self.done.callback(self.replies)


def stop(port: Any) -> None:
    on_reactor(port.stopListening)


def test_a_handler_and_a_line_receiver_share_one_reactor_and_twisted_clients_talk_to_both() -> None:
    handler_port = on_reactor(listen, Upper, "tcp:0:interface=127.0.0.1")
    twisted_port = on_reactor(
        endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen,
        protocol.Factory.forProtocol(Lower),
    )
    try:

        def converse(port: int, lines: list[bytes]) -> defer.Deferred[list[bytes]]:
            done: defer.Deferred[list[bytes]] = defer.Deferred()
            point = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
            endpoints.connectProtocol(point, Collect(lines, done))
            return done

        both = on_reactor(
            lambda: defer.gatherResults(
                [
                    converse(handler_port.getHost().port, [b"hello", b"twisted", b"QUIT"]),
                    converse(handler_port.getHost().port, [b"second client", b"QUIT"]),
                ]
            )
        )
        assert both == [[b"HELLO", b"TWISTED", b"BYE"], [b"SECOND CLIENT", b"BYE"]]
        # The LineReceiver on the same reactor answers meanwhile, and a plain socket
        # talks to the Handler too.
        with tcp_connect(twisted_port.getHost().port) as sock:
            sock.sendall(b"LOUD\r\n")
            assert read_exactly(sock, 6) == b"loud\r\n"
        with tcp_connect(handler_port.getHost().port) as sock:
            sock.sendall(b"quiet\r\nQUIT\r\n")
            assert read_until_eof(sock) == b"QUIET\r\nBYE\r\n"
    finally:
        stop(handler_port)
        stop(twisted_port)


class Asker(Handler):
    """A client: sends *lines* on connect, keeps the replies, quits."""

    def __init__(self, lines: list[bytes]) -> None:
        super().__init__(b"\r\n")
        self.lines = lines
        self.replies: list[bytes] = []
        self.tls_peer: Any = None
        self.done = threading.Event()

    def on_connect(self) -> None:
        for line in self.lines:
            self.push(line + b"\r\n")

    def on_frame(self, frame: bytes) -> None:
        self.replies.append(frame)
        if len(self.replies) == len(self.lines):
            self.close_when_done()

    def on_close(self) -> None:
        self.done.set()


def test_connect_runs_a_handler_as_a_client_of_a_twisted_server() -> None:
    twisted_port = on_reactor(
        endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen,
        protocol.Factory.forProtocol(Lower),
    )
    try:
        port = twisted_port.getHost().port
        by_host = Asker([b"ONE", b"TWO"])
        assert on_reactor(connect, by_host, host="127.0.0.1", port=port) is by_host
        by_string = Asker([b"THREE"])
        on_reactor(connect, by_string, f"tcp:host=127.0.0.1:port={port}")
        assert by_host.done.wait(TIMEOUT)
        assert by_string.done.wait(TIMEOUT)
        assert by_host.replies == [b"one", b"two"]
        assert by_string.replies == [b"three"]
        assert by_host.peername == ("127.0.0.1", port)
    finally:
        stop(twisted_port)


def test_connect_over_a_connected_socket_and_a_unix_endpoint(tmp_path: Any) -> None:
    path = str(tmp_path / "upper.sock")
    unix_port = on_reactor(listen, Upper, f"unix:{path}")
    try:
        client = Asker([b"over unix"])
        on_reactor(connect, client, path=path)
        assert client.done.wait(TIMEOUT)
        assert client.replies == [b"OVER UNIX"]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        adopted = Asker([b"adopted"])
        on_reactor(connect, adopted, sock=sock)
        assert sock.fileno() == -1, "connect(sock=) closes the socket it was given"
        assert adopted.done.wait(TIMEOUT)
        assert adopted.replies == [b"ADOPTED"]
    finally:
        stop(unix_port)


def test_listen_on_a_socket_you_have_then_on_host_and_port() -> None:
    given = socket.create_server(("127.0.0.1", 0))
    address = given.getsockname()
    port = on_reactor(listen, Upper, sock=given)
    try:
        with tcp_connect(address[1]) as sock:
            sock.sendall(b"mine\r\nQUIT\r\n")
            assert read_until_eof(sock) == b"MINE\r\nBYE\r\n"
    finally:
        stop(port)
    assert given.fileno() == -1, "the server owns the socket: it closes it when it stops"
    port = on_reactor(listen, Upper, host="127.0.0.1", port=0)
    try:
        with tcp_connect(port.getHost().port) as sock:
            sock.sendall(b"ok\r\nQUIT\r\n")
            assert read_until_eof(sock) == b"OK\r\nBYE\r\n"
    finally:
        stop(port)


class StartTLSClient(Asker):
    """Asks ``STARTTLS`` in clear text, upgrades on ``READY``, then asks its lines."""

    def __init__(self, context: ssl.SSLContext, lines: list[bytes]) -> None:
        super().__init__(lines)
        self.context = context

    def on_connect(self) -> None:
        self.push(b"STARTTLS\r\n")

    def on_frame(self, frame: bytes) -> None:
        if frame == b"READY":
            self.start_tls(self.context, server_side=False, server_hostname="127.0.0.1")
            return
        super().on_frame(frame)

    def on_tls_started(self) -> None:
        self.tls_peer = self.ssl_object.getpeercert()
        super().on_connect()


class StartTLSServer(Upper):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context

    def on_frame(self, frame: bytes) -> None:
        if frame == b"STARTTLS":
            self.push(b"READY\r\n")
            self.start_tls(self.context, server_side=True)
            return
        super().on_frame(frame)


def test_starttls_from_both_sides_and_tls_from_the_first_byte(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls
    port = on_reactor(listen, lambda: StartTLSServer(server_ctx), host="127.0.0.1", port=0)
    try:
        client = StartTLSClient(client_ctx, [b"secret", b"words"])
        on_reactor(connect, client, host="127.0.0.1", port=port.getHost().port)
        assert client.done.wait(TIMEOUT)
        assert client.replies == [b"SECRET", b"WORDS"]
        assert client.tls_peer["subjectAltName"]
    finally:
        stop(port)
    port = on_reactor(listen, Upper, host="127.0.0.1", port=0, ssl=server_ctx)
    try:
        client = Asker([b"tls", b"throughout"])
        on_reactor(connect, client, host="127.0.0.1", port=port.getHost().port, ssl=client_ctx)
        assert client.ssl_object is not None
        assert client.done.wait(TIMEOUT)
        assert client.replies == [b"TLS", b"THROUGHOUT"]
    finally:
        stop(port)


def test_a_failed_handshake_fails_the_deferred_of_connect(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, _ = tls
    port = on_reactor(listen, Upper, host="127.0.0.1", port=0, ssl=server_ctx)
    try:
        untrusting = ssl.create_default_context()  # does not trust the test CA
        client = Asker([b"x"])
        with pytest.raises(ssl.SSLCertVerificationError):
            on_reactor(connect, client, host="127.0.0.1", port=port.getHost().port, ssl=untrusting)
        assert client.done.wait(TIMEOUT), "on_close is not called: the handler never started"
    finally:
        stop(port)


def test_a_refused_connection_fails_the_deferred_of_connect() -> None:
    free = socket.create_server(("127.0.0.1", 0))
    number = free.getsockname()[1]
    free.close()
    with pytest.raises(Exception, match="refused"):
        on_reactor(connect, Asker([b"x"]), host="127.0.0.1", port=number)


def test_the_factory_serves_through_twisted_apis_that_take_one() -> None:
    port = on_reactor(reactor.listenTCP, 0, HandlerFactory(Upper), interface="127.0.0.1")
    try:
        with tcp_connect(port.getHost().port) as sock:
            sock.sendall(b"factory\r\nQUIT\r\n")
            assert read_until_eof(sock) == b"FACTORY\r\nBYE\r\n"
    finally:
        stop(port)


@pytest.mark.parametrize(
    ("call", "error", "says"),
    [
        (lambda: listen(Upper, "tcp:0", port=0), ValueError, "endpoint"),
        (lambda: listen(Upper, 8025), TypeError, "endpoint must be"),
        (lambda: listen(Upper, host="127.0.0.1", port=-1), ValueError, "port"),
        (lambda: listen(Upper, host="127.0.0.1", port=0, high_water=0), ValueError, "high_water"),
        (lambda: listen(None, port=0), TypeError, "handler_factory"),  # type: ignore[arg-type]
        (lambda: connect(Upper, port=1), TypeError, "handler must be"),  # type: ignore[arg-type]
        (lambda: connect(Upper(), 25), TypeError, "endpoint must be"),
        (lambda: connect(Upper(), "tcp:x:1", host="x"), ValueError, "endpoint"),
        (lambda: connect(Upper(), host="x", port=1, idle_timeout=-1), ValueError, "idle_timeout"),
        (lambda: HandlerProtocol(Upper(), write_size=0), ValueError, "write_size"),
        (lambda: HandlerFactory(Upper, ssl=ssl.create_default_context()), ValueError, "ssl"),
    ],
)
def test_bad_arguments_are_named(call: Callable[[], object], error: type, says: str) -> None:
    with pytest.raises(error, match=says):
        on_reactor(call)


def test_without_twisted_the_import_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['twisted'] = None\n"
        "try:\n"
        "    import asyncframe.adapters.twisted\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    ).stdout
    assert 'pip install "asyncframe[twisted]"' in out


# Twisted's TLS endpoints hand pyOpenSSL the certificate in a form its newest
# releases deprecate; the warning is Twisted's to fix, not this adapter's.
@pytest.mark.filterwarnings("ignore:Passing pyOpenSSL .* objects is deprecated")
def test_twisteds_own_tls_from_an_ssl_endpoint_string(tmp_path: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    string = f"ssl:0:interface=127.0.0.1:privateKey={key_file}:certKey={cert_file}"
    port = on_reactor(listen, Upper, string)
    try:
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        with (
            tcp_connect(port.getHost().port) as raw,
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"through twisted's tls\r\nQUIT\r\n")
            replies = b""
            while chunk := tls.recv(4096):
                replies += chunk
        assert replies == b"THROUGH TWISTED'S TLS\r\nBYE\r\n"
    finally:
        stop(port)
