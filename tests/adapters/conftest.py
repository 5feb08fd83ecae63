"""Client-side helpers shared by the adapter tests: plain blocking sockets with timeouts."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import trustme

TIMEOUT = 20.0

#: The event loops the asyncio adapter's tests run on.
LOOPS = ("asyncio", "uvloop")


def loop_factory(loop: str) -> Callable[[], Any] | None:
    """What makes a new event loop of kind *loop* (``None``: asyncio's own); skips the
    test for ``"uvloop"`` where uvloop is not installed."""
    if loop == "asyncio":
        return None
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (no wheel here)")
    factory: Callable[[], Any] = uvloop.new_event_loop
    return factory


def uvloop_adapter() -> Any:
    """The kit's :class:`~asyncframe.testing.UvloopAdapter`; skips the test where
    uvloop is not installed."""
    loop_factory("uvloop")
    from asyncframe.testing import UvloopAdapter

    return UvloopAdapter()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def many_requests_in_one_send(port: int) -> socket.socket:
    """A peer that sends 200 requests in one small send() and reads nothing."""
    sock = connect(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"R\n" * 200)
    return sock


def request_then_reset(port: int) -> None:
    """A peer that sends one request and leaves at once, with a reset."""
    sock = connect(port)
    sock.sendall(b"GO\n")
    reset(sock)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_until_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a reset, not an orderly EOF."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for(predicate: object, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def wait_steady(read: Callable[[], object], quiet: float = 0.5) -> bool:
    """Wait until *read()* returns the same value for *quiet* seconds (a server that
    has done all it can: its peer reads nothing); False if it never settles."""
    deadline = time.monotonic() + TIMEOUT
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
    return False


class Flood:
    """A client that sends ``ECHO`` lines as fast as it can and reads nothing until told.

    Its receive and send buffers are small, so once the server stops reading, the
    sender blocks: :meth:`wait_stalled` sees that. :meth:`drain` then reads every
    reply and checks each line came back exactly once, in order.
    """

    def __init__(self, port: int, *, lines: int = 24_000, size: int = 1000) -> None:
        self.payloads = [b"%06d" % i + b"y" * (size - 6) for i in range(lines)]
        self.script = b"".join(b"ECHO " + p + b"\n" for p in self.payloads)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.sent = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._send)
        self.thread.start()

    def _send(self) -> None:
        view = memoryview(self.script)
        try:
            while self.sent < len(view):
                self.sent += self.sock.send(view[self.sent : self.sent + 65536])
        except BaseException as exc:  # reported by drain()
            self.error = exc

    def wait_stalled(self, quiet: float = 0.5) -> bool:
        """Wait until the sender makes no progress for *quiet* seconds; True if it is
        stuck before the end of its script (the server stopped reading)."""
        return wait_steady(lambda: self.sent, quiet) and self.sent < len(self.script)

    def drain(self) -> None:
        """Read every reply, then check them; closes the socket."""
        expected = b"".join(p + b"\n" for p in self.payloads)
        try:
            got = read_exactly(self.sock, len(expected))
        finally:
            self.thread.join(TIMEOUT)
            self.sock.close()
        assert self.error is None, self.error
        assert not self.thread.is_alive(), "the sender never finished"
        assert got == expected


def check_accept_backoff(adapter: str) -> None:
    """Out of descriptors, *adapter*'s listener backs off: one warning per burst, next
    to no CPU, and it serves again once descriptors are free."""
    during, warnings = exhaust_descriptors(adapter)
    # Six failed attempts cost one warning, and next to no CPU (no busy loop).
    assert during["warnings"] == 1
    assert isinstance(during["cpu"], float)
    assert during["cpu"] < 0.25
    # Each burst (freeing the descriptors may start another) is logged as it starts
    # and as it ends, never per attempt.
    starts, ends = warnings[::2], warnings[1::2]
    assert len(starts) == len(ends) <= 3
    assert all("pausing the listener" in line for line in starts)
    assert all("accepting again" in line for line in ends)


class ServerProcess:
    """A test server in a process of its own (``python -m module args...``), spoken
    to by lines: it writes one JSON object per step, and a line on its stdin tells it
    to go on to the next. It is killed on exit."""

    def __init__(self, module: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def report(self) -> Any:
        """The server's next JSON line."""
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())

    def proceed(self) -> Any:
        """Tell the server to go on; return its next JSON line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return self.report()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def exhaust_descriptors(adapter: str) -> tuple[dict[str, object], list[str]]:
    """Run ``fd_exhaustion`` for *adapter*: flood it with more connections than it has
    descriptors, then free them and check it serves again.

    Returns what the server reported while out of descriptors, and every warning it
    logged.
    """
    with ServerProcess("tests.adapters.fd_exhaustion", adapter) as server:
        port = server.report()["port"]
        clients = [connect(port) for _ in range(150)]
        during: dict[str, object] = server.report()
        for client in clients:
            client.close()
        with connect(port) as sock:  # served once descriptors are free again
            sock.sendall(b"back\r\n")
            assert read_exactly(sock, 6) == b"back\r\n"
        warnings: list[str] = server.proceed()["warnings"]
    return during, warnings


def idle_memory(adapter: str, n: int = 2000) -> float:
    """Open *n* idle connections to an *adapter* server in its own process and
    return its RSS growth per connection, in KiB (after 200 warm-up connections)."""
    socks: list[socket.socket] = []
    with ServerProcess("tests.adapters.idle_memory", adapter, str(n)) as server:
        try:
            port = server.report()["port"]
            socks += [connect(port) for _ in range(200)]
            for sock in socks:  # every warm-up connection is served once
                sock.sendall(b"hi\r\n")
                assert read_exactly(sock, 4) == b"hi\r\n"
            assert server.proceed()["ready"]
            socks += [connect(port) for _ in range(n)]
            result: float = server.proceed()["kib_per_connection"]
        finally:
            for sock in socks:
                sock.close()
    return result


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a trustme certificate for 127.0.0.1, and a client that trusts it."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx
