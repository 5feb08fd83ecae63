"""Servers that depend on when a push goes out, over real loopback sockets.

STARTTLS pushes its "go ahead" reply and then wraps the socket in TLS inside the
same callback: the reply must leave in clear text before the wrap. A server that
pushes a reply and closes at once must still deliver the reply. Each test runs on
the drop-in and, where it is importable, on the classic asynchat class.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import trustme

from asyncframe.adapters import asynchat as ours

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore

    try:
        import asynchat as classic
    except ImportError:  # pragma: no cover - Python 3.12+ without pyasynchat
        classic = None

MODULES = [pytest.param(ours, id="drop-in")]
if classic is not None and classic is not ours:
    MODULES.append(pytest.param(classic, id="classic"))

# A bound on how long a broken server may keep a test waiting.
DEADLINE = 30.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def serve(chat_map: dict[int, Any], until: Callable[[], bool]) -> None:
    """Run asyncore.loop on *chat_map* until *until()* is true (or the deadline)."""
    deadline = time.monotonic() + DEADLINE
    while not until() and time.monotonic() < deadline:
        asyncore.loop(timeout=0.01, map=chat_map, count=1)


def line_server(
    module: Any, chat_map: dict[int, Any], on_line: Callable[[Any, bytes], None]
) -> int:
    """Listen on loopback; each connection is an async_chat of *module* calling on_line."""

    class Chat(module.async_chat):  # type: ignore[misc,name-defined]
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock, map=chat_map)
            self.set_terminator(b"\r\n")
            self.handshaking = False

        def collect_incoming_data(self, data: bytes) -> None:
            self._collect_incoming_data(data)

        def found_terminator(self) -> None:
            on_line(self, self._get_data())

        def recv(self, buffer_size: int) -> bytes:
            try:
                return super().recv(buffer_size)  # type: ignore[no-any-return]
            except ssl.SSLWantReadError:
                raise BlockingIOError from None  # nothing decrypted yet: wait for more

        def handle_read(self) -> None:
            if self.handshaking:
                self.handshake()
            else:
                super().handle_read()

        def handle_write(self) -> None:
            if self.handshaking:
                self.handshake()
            else:
                super().handle_write()

        def handshake(self) -> None:
            try:
                self.socket.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            self.handshaking = False

    class Listener(asyncore.dispatcher):
        def __init__(self) -> None:
            super().__init__(map=chat_map)
            self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
            self.bind(("127.0.0.1", 0))
            self.listen(5)

        def handle_accepted(self, sock: socket.socket, addr: object) -> None:
            Chat(sock)

    port: int = Listener().socket.getsockname()[1]
    return port


def read_line(sock: socket.socket) -> bytes:
    """Read one CRLF-ended line, byte by byte (so nothing after it is consumed)."""
    line = b""
    while not line.endswith(b"\r\n"):
        byte = sock.recv(1)
        if not byte:
            break
        line += byte
    return line


def run_client(client: Callable[[], None], chat_map: dict[int, Any]) -> dict[str, Any]:
    """Run *client* in a thread while the server loop runs here; return what it saw."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            client()
        except Exception as exc:  # the assertion below shows it
            box["error"] = exc
        finally:
            box["done"] = True

    thread = threading.Thread(target=target)
    thread.start()
    serve(chat_map, lambda: "done" in box)
    thread.join()
    for dispatcher in list(chat_map.values()):
        dispatcher.close()
    return box


@pytest.mark.parametrize("module", MODULES)
def test_starttls_reply_goes_out_in_clear_before_the_upgrade(module: Any, ca: trustme.CA) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    chat_map: dict[int, Any] = {}

    def on_line(chat: Any, line: bytes) -> None:
        if line == b"STLS":
            chat.push(b"+OK Begin TLS\r\n")
            # The classic pattern: wrap the socket inside the same callback.
            tls = server_ctx.wrap_socket(
                chat.socket, server_side=True, do_handshake_on_connect=False
            )
            chat.del_channel()
            chat.set_socket(tls)
            chat.handshaking = True
        else:
            chat.push(b"+OK " + line + b"\r\n")

    port = line_server(module, chat_map, on_line)
    seen: dict[str, bytes] = {}

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            sock.sendall(b"STLS\r\n")
            seen["clear"] = read_line(sock)
            with client_ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(b"NOOP\r\n")
                seen["tls"] = read_line(tls)

    box = run_client(client, chat_map)
    assert "error" not in box, box.get("error")
    assert seen == {"clear": b"+OK Begin TLS\r\n", "tls": b"+OK NOOP\r\n"}


@pytest.mark.parametrize("module", MODULES)
def test_reply_pushed_right_before_close_is_delivered(module: Any) -> None:
    chat_map: dict[int, Any] = {}

    def on_line(chat: Any, line: bytes) -> None:
        chat.push(b"221 bye\r\n")
        chat.close()

    port = line_server(module, chat_map, on_line)
    seen: dict[str, bytes] = {}

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            sock.sendall(b"QUIT\r\n")
            received = b""
            while data := sock.recv(100):
                received += data
            seen["reply"] = received

    box = run_client(client, chat_map)
    assert "error" not in box, box.get("error")
    assert seen == {"reply": b"221 bye\r\n"}
