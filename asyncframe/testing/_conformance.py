"""Behavioural checks that any adapter runs against itself over real loopback sockets.

Each ``check_*`` function takes an :class:`~asyncframe.testing.AdapterUnderTest`,
starts servers with it, drives them with plain blocking sockets (or, for many
clients, one non-blocking client loop) and raises :class:`AssertionError` saying
what went wrong. Nothing here waits for a fixed time: every wait polls a
condition until a deadline, and the deadline only turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Protocol, TypeVar

from asyncframe import FrameTooLong, Handler

from ._adapters import AdapterUnderTest, Address, serving

__all__ = [
    "CHECKS",
    "check_adapter",
    "check_blocked_writer_closes",
    "check_echo_under_awkward_chunkings",
    "check_endless_producer_peer_leaves",
    "check_factory_returning_none",
    "check_frame_too_long",
    "check_half_close_with_tail",
    "check_handler_without_super_init",
    "check_idle_timeout",
    "check_input_limit",
    "check_many_concurrent_clients",
    "check_never_reading_peer",
    "check_peername",
    "check_pipeline_before_reading",
    "check_raising_callbacks",
    "check_replies_flushed_at_eof",
    "check_replies_flushed_at_ragged_eof",
    "check_reset_mid_frame",
    "check_starttls",
    "check_starttls_close_notify",
    "check_starttls_handshake_failure",
    "check_starttls_injection",
    "check_tls_big_reply_then_close_notify",
    "check_tls_close_notify",
    "check_tls_echo",
    "check_tls_ragged_eof_after_request",
    "check_unix_socket",
]

#: The deadline of one wait, in seconds: long enough for a loaded CI machine. It is
#: read when a wait starts, so a test may lower it to fail a broken adapter sooner.
TIMEOUT = 20.0

T = TypeVar("T")


# -- the protocol the checks serve ---------------------------------------------------------


class _Boom(Exception):
    """Raised on purpose by a handler; the adapter must log it and close that connection."""


def _endless(handler: _Line, piece: bytes) -> Iterator[bytes]:
    while True:
        handler.pulled += len(piece)
        yield piece


class _Line(Handler):
    """The line protocol of the checks (terminator ``b"\\n"``).

    ``ECHO <text>`` → ``<text>\\n``; ``BIG <n>`` → ``n`` bytes (one shared buffer);
    ``PUT <value>`` → ``OK\\n``; ``FEED`` → an endless producer; ``KILL`` →
    :meth:`close` every ``FEED`` handler; ``BOOM`` raises; ``QUIT`` → ``BYE\\n``
    then :meth:`close_when_done`; at EOF an unterminated tail is answered
    ``TAIL <tail>\\n`` followed by ``BIG`` bytes of :attr:`eof_reply` size (nothing,
    if the server's ``quiet_eof``).
    Every callback is recorded in :attr:`events`.
    """

    def __init__(self, server: _Server, max_frame_size: int) -> None:
        super().__init__(terminator=b"\n", max_frame_size=max_frame_size)
        self.server = server
        self.events: list[str] = []
        self.parts: list[bytes] = []
        self.peak_output = 0
        self.answered = 0
        self.pulled = 0
        self.peer: object = None
        self.too_long: list[BaseException] = []
        server.handlers.append(self)

    def on_connect(self) -> None:
        self.events.append("connect")
        # getattr: an adapter without peername fails check_peername, not every check.
        self.peer = getattr(self, "peername", None)
        if self.server.raise_on_connect:
            raise _Boom("on_connect")

    def line(self, line: bytes) -> None:
        """Answer one request line."""
        self.answered += 1
        cmd, _, arg = line.partition(b" ")
        if cmd == b"ECHO":
            self.push(arg + b"\n")
        elif cmd == b"BIG":
            self.push(self.server.reply(int(arg)))
        elif cmd == b"PUT":
            self.push(b"OK\n")
        elif cmd == b"FEED":
            self.server.feeders.append(self)
            self.push_with_producer(_endless(self, self.server.reply(65536)))
        elif cmd == b"KILL":
            for feeder in self.server.feeders:
                feeder.close()
            self.push(b"KILLED\n")
        elif cmd == b"BOOM":
            raise _Boom("BOOM")
        elif cmd == b"STARTTLS" and self.server.tls is not None:
            self.push(b"GO\n")
            self.start_tls(self.server.tls)
        else:
            self.push(b"ERR\n")
        self.peak_output = max(self.peak_output, self.buffered_output)

    def on_tls_started(self) -> None:
        self.events.append("tls")

    def on_eof(self) -> None:
        self.events.append("eof")
        if self.server.quiet_eof:
            return
        # The streaming style collected the tail in parts; the frame styles find it here.
        tail = b"".join(self.parts) or self.channel.trailing_data
        self.parts.clear()
        self.push(b"TAIL " + tail + b"\n")
        self.push(self.server.reply(self.server.eof_reply))

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        self.too_long.append(error)
        super().on_frame_too_long(error)

    def on_close(self) -> None:
        self.events.append("close")

    def saw(self, event: str) -> bool:
        """True once the callback named *event* ran."""
        return event in self.events


class _StreamLine(_Line):
    """The protocol in the streaming style: payload pieces, then the terminator."""

    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        line = b"".join(self.parts)
        self.parts.clear()
        self.line(line)


class _FrameLine(_Line):
    """The protocol in the whole-frame style: one :meth:`on_frame` per line."""

    def on_frame(self, frame: bytes) -> None:
        self.line(frame)


class _BatchLine(_Line):
    """The protocol in the batch style: :meth:`on_frames` answers each line of a batch."""

    def on_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.line(frame)


class _Server:
    """Makes the handlers of one server and keeps them for the checks to look at."""

    def __init__(
        self,
        *,
        style: str = "on_data/on_terminator",
        max_frame_size: int = 1 << 20,
        eof_reply: int = 0,
        quiet_eof: bool = False,
    ) -> None:
        self.kind = _STYLES[style]
        self.max_frame_size = max_frame_size
        self.eof_reply = eof_reply
        self.quiet_eof = quiet_eof
        self.raise_on_connect = False
        #: The server context ``STARTTLS`` upgrades with (``None``: not offered).
        self.tls: ssl.SSLContext | None = None
        self.handlers: list[_Line] = []
        self.feeders: list[_Line] = []
        self._replies: dict[int, bytes] = {}

    def __call__(self) -> Handler:
        return self.kind(self, self.max_frame_size)

    def reply(self, size: int) -> bytes:
        """A reply of *size* bytes, one object per size: pushing it many times queues
        references, so a server that fails to bound its queue does not eat the memory."""
        if size not in self._replies:
            self._replies[size] = b"x" * size
        return self._replies[size]

    def closed_more_than(self, count: int) -> bool:
        """True once more than *count* of the handlers got ``on_close``."""
        return sum("close" in h.events for h in list(self.handlers)) > count

    def first_peak(self) -> int:
        """The most output the first handler ever had queued."""
        return self.handlers[0].peak_output if self.handlers else 0


#: The Handler of each callback style.
_STYLES: dict[str, type[_Line]] = {
    "on_data/on_terminator": _StreamLine,
    "on_frame": _FrameLine,
    "on_frames": _BatchLine,
}


# -- client side ---------------------------------------------------------------------------


def _wait_for(predicate: Callable[[], object], what: str) -> None:
    """Poll *predicate* until it is true; fail, saying *what* was awaited, at the deadline."""
    timeout = TIMEOUT
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not the case after {timeout} s")
        time.sleep(0.005)


def _connect(address: Address, *, rcvbuf: int | None = None) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if rcvbuf is not None:
        # Before connect(), so that the window is small from the start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect(address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Receiver(Protocol):
    def recv(self, size: int, /) -> bytes: ...


class _Peer(_Receiver, Protocol):
    def sendall(self, data: bytes, /) -> None: ...

    def close(self) -> None: ...


def _read_exactly(sock: _Receiver, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        try:
            chunk = sock.recv(min(size, 1 << 20))
        except TimeoutError:
            raise AssertionError(f"waited {TIMEOUT} s for {size} more bytes") from None
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_to_end(sock: socket.socket) -> bytes:
    """Read until EOF (or a reset, which also ends the connection); fail at the deadline."""
    timeout = TIMEOUT
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the server did not close the connection within {timeout} s")
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the server sees a reset, not an orderly EOF."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _pieces(data: bytes, seed: int, largest: int = 7) -> list[bytes]:
    """Cut *data* into pieces of 1..*largest* bytes, deterministically."""
    pieces, pos, step = [], 0, seed
    while pos < len(data):
        step = (step * 1103515245 + 12345) & 0x7FFFFFFF
        size = 1 + (step >> 16) % largest
        pieces.append(data[pos : pos + size])
        pos += size
    return pieces


def _echo_session(
    address: Address, seed: int, lines: int = 10, tls: ssl.SSLContext | None = None
) -> None:
    """Send *lines* ECHO lines in awkward pieces (over TLS with a *tls* client context,
    each piece its own record); check every reply, exactly."""
    payloads = [b"s%d line %d %s" % (seed, i, b"." * (seed * 7 % 50)) for i in range(lines)]
    script = b"".join(b"ECHO " + p + b"\n" for p in payloads)
    expected = b"".join(p + b"\n" for p in payloads)
    peer: _Peer = _connect(address) if tls is None else _TLSClient(address, tls)
    with contextlib.closing(peer):
        for piece in _pieces(script, seed):
            peer.sendall(piece)
        got = _read_exactly(peer, len(expected))
    assert got == expected, f"client {seed}: sent {script!r}, got back {got!r}"


def _concurrent_echo_sessions(
    address: Address, seeds: range, tls: ssl.SSLContext | None = None
) -> list[BaseException]:
    """Run an :func:`_echo_session` per seed, all at once; return what they raised."""
    errors: list[BaseException] = []

    def client(seed: int) -> None:
        try:
            _echo_session(address, seed, tls=tls)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


class _TLSClient:
    """A blocking TLS client on memory BIOs.

    Unlike :class:`ssl.SSLSocket`, it can send its close_notify and then go on
    reading what the server still sends (TLS 1.3 closes each direction apart). Each
    :meth:`sendall` is one TLS record (or more, above 16 KiB).
    """

    def __init__(
        self, address: Address, context: ssl.SSLContext, sock: socket.socket | None = None
    ) -> None:
        # With *sock*: the TLS starts on that connection (a STARTTLS upgrade).
        self.sock = _connect(address) if sock is None else sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=address[0])
        #: How the server ended the stream, once it has: ``"close_notify"``, or
        #: ``"eof"`` (the connection closed or reset without one).
        self.ended: str | None = None
        try:
            self._run(self._tls.do_handshake)
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        """Close the socket (without a close_notify)."""
        self.sock.close()

    def _run(self, operation: Callable[[], T]) -> T:
        """Run a TLS operation, moving records to and from the socket until it is done."""
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
            else:
                self._flush()
                return result

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self.sock.sendall(data)

    def sendall(self, data: bytes) -> None:
        """Send *data*, encrypted."""
        self._run(partial(self._tls.write, data))

    def recv(self, size: int) -> bytes:
        """Up to *size* decrypted bytes; ``b""`` once the server ended the stream."""
        if self.ended:
            return b""
        try:
            return self._run(partial(self._tls.read, size))
        except ssl.SSLZeroReturnError:
            self.ended = "close_notify"
        except (ssl.SSLEOFError, ConnectionResetError):
            self.ended = "eof"
        return b""

    def close_notify(self) -> None:
        """Send close_notify (the TLS end of this side's stream); reading goes on."""
        # unwrap() writes ours, then waits for the server's: SSLWantReadError (not come
        # yet) or, with unread data at hand, an SSLError. Ours is sent either way.
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()
        self._flush()

    def read_to_end(self) -> bytes:
        """Read until the server ends the stream; fail at the deadline."""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self.recv(65536)
            except TimeoutError:
                raise AssertionError(
                    f"the server did not end the stream within {TIMEOUT} s"
                ) from None
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _ask(sock: socket.socket, request: bytes, reply: bytes) -> None:
    sock.sendall(request)
    got = _read_exactly(sock, len(reply))
    assert got == reply, f"asked {request!r}: expected {reply!r}, got {got!r}"


class _Logs(logging.Handler):
    """Collects the records of level WARNING and above logged while a check runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def raised(self, kind: type[BaseException]) -> list[logging.LogRecord]:
        """The records that carry an exception of *kind*."""
        return [r for r in self.records if r.exc_info and isinstance(r.exc_info[1], kind)]


@contextlib.contextmanager
def _logs() -> Iterator[_Logs]:
    logs = _Logs()
    root = logging.getLogger()
    root.addHandler(logs)
    try:
        yield logs
    finally:
        root.removeHandler(logs)


# -- the checks ----------------------------------------------------------------------------


def check_echo_under_awkward_chunkings(adapter: AdapterUnderTest) -> None:
    """Lines sent in pieces of 1-7 bytes (and one byte at a time) come back exactly.

    Runs a Handler of each callback style (``on_data``/``on_terminator``,
    ``on_frame``, ``on_frames``), each with several clients at once.
    """
    for style in _STYLES:
        with serving(adapter, _Server(style=style)) as address:
            errors = _concurrent_echo_sessions(address, range(1, 9))
            assert not errors, f"{style}: {errors[0]}"
            line = b"ECHO one byte at a time\n"
            with _connect(address) as sock:
                for i in range(len(line)):
                    sock.sendall(line[i : i + 1])
                got = _read_exactly(sock, len(line) - 5)
            assert got == line[5:], f"{style}, one byte at a time: got {got!r}"


def check_peername(adapter: AdapterUnderTest) -> None:
    """``Handler.peername`` is the client's address, from
    :meth:`~asyncframe.Handler.on_connect` on."""
    server = _Server()
    with serving(adapter, server) as address, _connect(address) as sock:
        _ask(sock, b"ECHO hi\n", b"hi\n")
        peer = server.handlers[0].peer
        mine = sock.getsockname()[:2]
        assert isinstance(peer, tuple), f"peername is {peer!r}, not an address tuple"
        assert peer[:2] == mine, f"peername is {peer!r}; the client is at {mine!r}"


def check_half_close_with_tail(adapter: AdapterUnderTest) -> None:
    """A peer that half-closes after an unterminated tail gets every reply, then EOF.

    The tail reaches ``on_data``, then ``on_eof`` runs and pushes an answer plus
    256 KiB; the client reads all of it before the connection closes, and
    ``on_close`` runs after ``on_eof``.
    """
    size = 256 * 1024
    server = _Server(eof_reply=size)
    with serving(adapter, server) as address, _connect(address) as sock:
        sock.sendall(b"ECHO first\nlast words")
        sock.shutdown(socket.SHUT_WR)
        got = _read_to_end(sock)
        expected = b"first\nTAIL last words\n" + server.reply(size)
        assert got == expected, (
            f"after a half-close got {len(got)} bytes, {got[:40]!r}...;"
            f" expected {len(expected)}, {expected[:40]!r}..."
        )
        handler = server.handlers[0]
        _wait_for(lambda: "close" in handler.events, "on_close after the half-close")
        assert handler.events == ["connect", "eof", "close"], handler.events


def check_reset_mid_frame(adapter: AdapterUnderTest) -> None:
    """A peer that resets in the middle of a frame gets ``on_close``; others are served."""
    server = _Server()
    with serving(adapter, server) as address, _connect(address) as other:
        _ask(other, b"ECHO before\n", b"before\n")
        victim = _connect(address)
        _ask(victim, b"ECHO a\n", b"a\n")
        victim.sendall(b"ECHO half a li")
        _wait_for(lambda: server.handlers[1].parts, "the server to read the partial line")
        _reset(victim)
        _wait_for(lambda: "close" in server.handlers[1].events, "on_close after a reset")
        _ask(other, b"ECHO after\n", b"after\n")
        _echo_session(address, seed=3)


def check_never_reading_peer(adapter: AdapterUnderTest) -> None:
    """A peer that never reads cannot make a server queue output without bound.

    The peer sends 128 requests in one write, each answered with 256 KiB (32 MiB
    in all), and reads nothing for a while. With ``high_water`` 64 KiB, the
    Handler's queued output (``buffered_output``) must stay within ``high_water``
    + one reply + ``max_frame_size`` + ``read_size``, whatever one read holds;
    then the peer reads everything, and every reply arrives. Each callback style
    is checked (``on_data``/``on_terminator``, ``on_frame``, ``on_frames``).
    """
    reply, requests, high_water, read_size, max_frame = 256 * 1024, 128, 65536, 65536, 1024
    bound = high_water + reply + max_frame + read_size
    for style in _STYLES:
        server = _Server(style=style, max_frame_size=max_frame)
        options = {"high_water": high_water, "read_size": read_size}
        with (
            serving(adapter, server, **options) as address,
            _connect(address, rcvbuf=65536) as sock,
        ):
            sock.sendall(b"BIG %d\n" % reply * requests)
            _wait_for(server.first_peak, f"{style}: a first reply")
            got = _read_exactly(sock, reply * requests)
            assert got == server.reply(reply) * requests, f"{style}: replies lost or corrupted"
            peak = server.handlers[0].peak_output
            assert peak <= bound, (
                f"{style}: {peak:,} bytes of output were queued for a peer that did not read;"
                f" the bound is {bound:,}"
            )


def _leave_at_once(sock: socket.socket) -> None:
    sock.close()


def _reset_at_once(sock: socket.socket) -> None:
    _reset(sock)


def _read_then_close(sock: socket.socket) -> None:
    assert len(_read_exactly(sock, 1 << 20)) == 1 << 20, "the feed stopped early"
    sock.close()


def _read_then_reset(sock: socket.socket) -> None:
    assert len(_read_exactly(sock, 1 << 20)) == 1 << 20, "the feed stopped early"
    _reset(sock)


def check_endless_producer_peer_leaves(adapter: AdapterUnderTest) -> None:
    """A peer that leaves a Handler streaming an endless producer: the connection
    closes (``on_close``), the server serves others, and it logs a few lines at most.

    The peer leaves right after its request (closing, or resetting), or after reading
    1 MiB of the feed.
    """
    server = _Server()
    leaves = (_leave_at_once, _reset_at_once, _read_then_close, _read_then_reset)
    with _logs() as logs, serving(adapter, server) as address:
        for leave in leaves:
            before = sum("close" in h.events for h in server.handlers)
            sock = _connect(address)
            sock.sendall(b"FEED\n")
            leave(sock)
            what = f"on_close after the peer left ({leave.__name__.strip('_')})"
            _wait_for(partial(server.closed_more_than, before), what)
            _echo_session(address, seed=5)
        records = len(logs.records)
        assert records <= 2 * len(leaves), (
            f"{records} log records of level WARNING or above, starting with"
            f" {[r.getMessage() for r in logs.records[:3]]}"
        )


def check_raising_callbacks(adapter: AdapterUnderTest) -> None:
    """A callback that raises closes only its own connection, after the replies pushed
    before it are sent, and the error is logged."""
    server = _Server()
    with _logs() as logs, serving(adapter, server) as address, _connect(address) as other:
        _ask(other, b"ECHO before\n", b"before\n")
        with _connect(address) as sock:
            sock.sendall(b"ECHO a\nBOOM\nECHO never\n")
            got = _read_to_end(sock)
        # The reply pushed before the failure is sent, then the connection closes;
        # the request after the failing one is not answered.
        assert got == b"a\n", f"after a raising callback the peer got {got!r}"
        _wait_for(lambda: "close" in server.handlers[1].events, "on_close of the raising handler")
        _wait_for(lambda: logs.raised(_Boom), "a logged record of the exception")
        server.raise_on_connect = True
        with _connect(address) as sock:
            assert _read_to_end(sock) == b"", "a handler whose on_connect raised sent bytes"
        server.raise_on_connect = False
        _wait_for(lambda: len(logs.raised(_Boom)) >= 2, "a logged record of on_connect's error")
        _ask(other, b"ECHO after\n", b"after\n")


def check_blocked_writer_closes(adapter: AdapterUnderTest) -> None:
    """``Handler.close()`` closes a connection whose output is blocked on a peer that
    does not read; ``on_close`` runs and the peer sees the connection end."""
    server = _Server()
    with serving(adapter, server) as address, _connect(address, rcvbuf=65536) as victim:
        victim.sendall(b"FEED\n")
        _wait_for(lambda: server.feeders, "the FEED request to arrive")
        feeder = server.feeders[0]
        _wait_until_quiet(lambda: feeder.pulled, "the writer to block on the peer")
        with _connect(address) as killer:
            _ask(killer, b"KILL\n", b"KILLED\n")
        _wait_for(lambda: "close" in feeder.events, "on_close after close() with a blocked writer")
        _read_to_end(victim)


def _wait_until_quiet(value: Callable[[], int], what: str, quiet: float = 0.3) -> None:
    """Wait until *value* is positive and has not changed for *quiet* seconds."""
    deadline = time.monotonic() + TIMEOUT
    last, since = -1, time.monotonic()
    while True:
        now, current = time.monotonic(), value()
        if current != last:
            last, since = current, now
        elif current > 0 and now - since >= quiet:
            return
        if now > deadline:
            raise AssertionError(f"{what}: still not the case after {TIMEOUT} s")
        time.sleep(0.01)


def check_idle_timeout(adapter: AdapterUnderTest) -> None:
    """With ``idle_timeout``, a silent peer is closed (``on_close`` runs); a peer that
    keeps sending, even one byte at a time, is not."""
    idle_timeout = 0.5
    server = _Server()
    with (
        serving(adapter, server, idle_timeout=idle_timeout) as address,
        _connect(address) as idle,
        _connect(address) as chatty,
    ):
        line = b"ECHO slowly\n"
        for i in range(len(line)):
            chatty.sendall(line[i : i + 1])
            # The gap between bytes is what is under test, not a wait for a result.
            time.sleep(idle_timeout / 5)
        assert _read_exactly(chatty, 7) == b"slowly\n", "the chatty peer was not answered"
        assert _read_to_end(idle) == b"", "the idle peer got bytes"
        (talker,) = [h for h in server.handlers if h.answered]
        (silent,) = [h for h in server.handlers if not h.answered]
        _wait_for(lambda: "close" in silent.events, "on_close of the idle peer")
        assert "close" not in talker.events, "the chatty peer was closed"
        _ask(chatty, b"ECHO still here\n", b"still here\n")


def check_frame_too_long(adapter: AdapterUnderTest) -> None:
    """A frame longer than ``max_frame_size`` calls ``on_frame_too_long`` (with a
    :class:`~asyncframe.FrameTooLong`), whose default closes the connection, without
    an error logged; other peers are served.
    Each callback style is checked."""
    for style in _STYLES:
        server = _Server(style=style, max_frame_size=1024)
        with _logs() as logs, serving(adapter, server) as address, _connect(address) as sock:
            _ask(sock, b"ECHO ok\n", b"ok\n")
            sock.sendall(b"y" * 4096)
            got = _read_to_end(sock)
            assert got == b"", f"{style}: after a frame too long the peer got {got[:40]!r}"
            handler = server.handlers[0]
            _wait_for(partial(handler.saw, "close"), f"{style}: on_close")
            calls = [type(error).__name__ for error in handler.too_long]
            assert calls == ["FrameTooLong"], f"{style}: on_frame_too_long calls: {calls}"
            errors = [r.getMessage() for r in logs.records if r.levelno >= logging.ERROR]
            assert not errors, f"{style}: a frame too long was logged as an error: {errors}"
            _echo_session(address, seed=7)


def check_many_concurrent_clients(
    adapter: AdapterUnderTest, clients: int = 1000, lines: int = 20
) -> None:
    """*clients* clients connected at once each send *lines* lines in awkward pieces;
    every line comes back exactly.

    Client and server share this process, so it needs about ``2 * clients`` file
    descriptors; the soft limit is raised towards the hard one if needed.
    """
    _ensure_descriptors(2 * clients + 64)
    with serving(adapter, _Server()) as address:
        _ManyClients(address, clients, lines).run()


def _ensure_descriptors(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise RuntimeError(f"{needed} file descriptors needed; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class _ManyClients:
    """Many non-blocking clients in one selector loop: each writes its script one piece
    per turn and checks what comes back."""

    def __init__(self, address: Address, clients: int, lines: int) -> None:
        self.address = address
        self.selector = selectors.DefaultSelector()
        self.todo: dict[socket.socket, list[bytes]] = {}
        self.expected: dict[socket.socket, bytes] = {}
        self.got: dict[socket.socket, bytearray] = {}
        for c in range(clients):
            payloads = [b"c%d l%d %s" % (c, i, b"-" * (c % 30)) for i in range(lines)]
            script = b"".join(b"ECHO " + p + b"\n" for p in payloads)
            sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(address)
            if err not in (0, errno.EINPROGRESS):
                raise AssertionError(f"client {c}: connect failed: {errno.errorcode.get(err)}")
            self.todo[sock] = _pieces(script, c + 1, largest=64)[::-1]
            self.expected[sock] = b"".join(p + b"\n" for p in payloads)
            self.got[sock] = bytearray()
            self.selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def run(self) -> None:
        deadline = time.monotonic() + 6 * TIMEOUT
        open_ = set(self.todo)
        try:
            while open_:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{len(open_)} clients not fully echoed in time")
                for key, mask in self.selector.select(1.0):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    if mask & selectors.EVENT_WRITE:
                        self._write(sock)
                    if mask & selectors.EVENT_READ and self._read(sock):
                        open_.discard(sock)
        finally:
            for sock in self.todo:
                sock.close()
            self.selector.close()

    def _write(self, sock: socket.socket) -> None:
        todo = self.todo[sock]
        if todo:
            piece = todo.pop()
            try:
                sent = sock.send(piece)
            except BlockingIOError:
                sent = 0
            if sent < len(piece):
                todo.append(piece[sent:])
        if not todo:
            self.selector.modify(sock, selectors.EVENT_READ)

    def _read(self, sock: socket.socket) -> bool:
        """Read what is there; return true once the client has everything (checked)."""
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return False
        except ConnectionError as exc:
            raise AssertionError(f"a client lost its connection: {exc!r}") from None
        got, expected = self.got[sock], self.expected[sock]
        if not data:
            raise AssertionError(f"the server closed a client after {len(got)} bytes")
        got += data
        if expected[: len(got)] != got:
            raise AssertionError(f"a client got {bytes(got)!r}, expected {expected!r}")
        if len(got) == len(expected):
            self.selector.unregister(sock)
            return True
        return False


def _tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a new certificate for the loopback addresses, and a client
    context that trusts it."""
    try:
        import trustme
    except ImportError as exc:
        raise ImportError('the TLS check needs trustme: pip install "asyncframe[test]"') from exc
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "::1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return server, client


def check_tls_echo(adapter: AdapterUnderTest) -> None:
    """Over TLS (the ``ssl`` option), lines come back exactly, however the records
    cut them.

    With a ``read_size`` of 7 bytes: several clients at once send lines in pieces of
    1-7 bytes, each piece its own TLS record, and one client sends 200 lines in one
    record, whose decrypted bytes wait in the TLS layer where no socket event
    announces them. Each callback style is checked. Needs trustme
    (``pip install "asyncframe[test]"``).
    """
    server_ctx, client_ctx = _tls_contexts()
    payloads = [b"record line %d" % i for i in range(200)]
    script = b"".join(b"ECHO " + p + b"\n" for p in payloads)
    expected = b"".join(p + b"\n" for p in payloads)
    for style in _STYLES:
        with serving(adapter, _Server(style=style), ssl=server_ctx, read_size=7) as address:
            errors = _concurrent_echo_sessions(address, range(1, 5), tls=client_ctx)
            assert not errors, f"{style}: {errors[0]!r}"
            client = _TLSClient(address, client_ctx)
            with contextlib.closing(client):
                client.sendall(script)
                got = _read_exactly(client, len(expected))
            assert got == expected, f"{style}: lines in one record: got back {got[:60]!r}..."


def check_tls_close_notify(adapter: AdapterUnderTest) -> None:
    """Over TLS, the peer's close_notify is its EOF, as a half-close is over TCP.

    The client sends a line, an unterminated tail and its close_notify, then reads
    on: ``on_eof`` runs, every reply arrives (TLS 1.3 closes each direction apart),
    the connection ends and ``on_close`` runs. Each callback style is checked.
    Needs trustme (``pip install "asyncframe[test]"``).
    """
    server_ctx, client_ctx = _tls_contexts()
    for style in _STYLES:
        server = _Server(style=style)
        with serving(adapter, server, ssl=server_ctx) as address:
            client = _TLSClient(address, client_ctx)
            with contextlib.closing(client):
                client.sendall(b"ECHO first\nlast words")
                client.close_notify()
                got = client.read_to_end()
            assert got == b"first\nTAIL last words\n", (
                f"{style}: after a tail and close_notify the client got {got!r}"
            )
            handler = server.handlers[0]
            _wait_for(partial(handler.saw, "close"), f"{style}: on_close after close_notify")
            assert handler.events == ["connect", "eof", "close"], f"{style}: {handler.events}"


# -- STARTTLS and Unix domain sockets -------------------------------------------------------


def _upgraded(address: Address, client_ctx: ssl.SSLContext) -> _TLSClient:
    """A client that says ``ECHO clear`` and ``STARTTLS`` in clear text, reads both
    replies in clear text, then starts TLS on the same connection."""
    sock = _connect(address)
    try:
        sock.sendall(b"ECHO clear\n")
        got = _read_exactly(sock, 6)
        assert got == b"clear\n", f"before STARTTLS: got {got!r}"
        sock.sendall(b"STARTTLS\n")
        got = _read_exactly(sock, 3)
        assert got == b"GO\n", f"the reply to STARTTLS, in clear text: got {got!r}"
        return _TLSClient(address, client_ctx, sock=sock)
    except BaseException:
        sock.close()
        raise


def check_starttls(adapter: AdapterUnderTest) -> None:
    """``Handler.start_tls()``: the reply before it goes out in clear text, the next
    byte is TLS, and the connection goes on over TLS; ``on_tls_started`` runs once.
    Each callback style is checked. Needs trustme."""
    server_ctx, client_ctx = _tls_contexts()
    for style in _STYLES:
        server = _Server(style=style)
        server.tls = server_ctx
        with serving(adapter, server) as address:
            client = _upgraded(address, client_ctx)
            with contextlib.closing(client):
                client.sendall(b"ECHO secret\nECHO again\n")
                got = _read_exactly(client, 13)
            assert got == b"secret\nagain\n", f"{style}: over TLS after STARTTLS: {got!r}"
            handler = server.handlers[0]
            _wait_for(partial(handler.saw, "close"), f"{style}: on_close after STARTTLS")
            assert handler.events.count("tls") == 1, f"{style}: {handler.events}"


def check_starttls_injection(adapter: AdapterUnderTest) -> None:
    """A request sent in the same segment as ``STARTTLS`` (a command injection: it came
    in clear text) is never dispatched: the connection is closed. Each callback style
    is checked."""
    server_ctx, _ = _tls_contexts()
    for style in _STYLES:
        server = _Server(style=style)
        server.tls = server_ctx
        with serving(adapter, server) as address, _logs():
            sock = _connect(address)
            with contextlib.closing(sock):
                sock.sendall(b"STARTTLS\nECHO injected\n")
                got = _read_to_end(sock)
            assert b"injected" not in got, f"{style}: the injected request was answered"
            _wait_for(partial(server.closed_more_than, 0), f"{style}: closed after the injection")
            handler = server.handlers[0]
            assert handler.answered == 1, f"{style}: {handler.answered} requests dispatched"
            assert "tls" not in handler.events, f"{style}: {handler.events}"


def check_starttls_handshake_failure(adapter: AdapterUnderTest) -> None:
    """A failed STARTTLS handshake (the peer sends no TLS) and a silent one (closed by
    ``tls_handshake_timeout``) close their connection only: an upgraded connection
    next to them goes on."""
    server_ctx, client_ctx = _tls_contexts()
    server = _Server()
    server.tls = server_ctx
    with serving(adapter, server, tls_handshake_timeout=1.0) as address:
        good = _upgraded(address, client_ctx)
        with contextlib.closing(good):
            for garbage in (b"this is no TLS record\n" * 8, b""):
                bad = _connect(address)
                with contextlib.closing(bad):
                    bad.sendall(b"STARTTLS\n")
                    assert _read_exactly(bad, 3) == b"GO\n"
                    if garbage:
                        bad.sendall(garbage)
                    _read_to_end(bad)  # the server closes it (an EOF or a reset)
            _wait_for(lambda: server.closed_more_than(1), "both bad handshakes closed")
            good.sendall(b"ECHO still here\n")
            got = _read_exactly(good, 11)
            assert got == b"still here\n", f"the upgraded connection got {got!r}"
    assert [h.events.count("tls") for h in server.handlers] == [1, 0, 0]


def check_starttls_close_notify(adapter: AdapterUnderTest) -> None:
    """After a STARTTLS upgrade the peer's close_notify is its EOF, as over TLS from
    the start: the tail is answered, the connection ends, ``on_close`` runs. Each
    callback style is checked."""
    server_ctx, client_ctx = _tls_contexts()
    for style in _STYLES:
        server = _Server(style=style)
        server.tls = server_ctx
        with serving(adapter, server) as address:
            client = _upgraded(address, client_ctx)
            with contextlib.closing(client):
                client.sendall(b"ECHO first\nlast words")
                client.close_notify()
                got = client.read_to_end()
            assert got == b"first\nTAIL last words\n", f"{style}: got {got!r}"
            handler = server.handlers[0]
            _wait_for(partial(handler.saw, "close"), f"{style}: on_close after close_notify")
            assert handler.events == ["connect", "tls", "eof", "close"], (
                f"{style}: {handler.events}"
            )


def _unix_echo(path: str, seed: int, errors: list[BaseException]) -> None:
    """Echo 20 lines in awkward pieces over the Unix socket at *path*; record a failure."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.closing(sock):
            sock.settimeout(TIMEOUT)
            sock.connect(path)
            lines = [b"unix %d line %d" % (seed, i) for i in range(20)]
            for piece in _pieces(b"".join(b"ECHO " + x + b"\n" for x in lines), seed):
                sock.sendall(piece)
            expected = b"".join(x + b"\n" for x in lines)
            got = _read_exactly(sock, len(expected))
            assert got == expected, f"over a Unix socket: {got!r}"
    except BaseException as exc:
        errors.append(exc)


def check_unix_socket(adapter: AdapterUnderTest) -> None:
    """A server on a Unix domain socket (the ``path`` option) echoes lines exactly,
    however they are cut, to several clients at once, in each callback style; a
    stale socket file at the path is replaced. (Nothing to check where the
    platform has no Unix domain sockets.)"""
    import os
    import tempfile

    if not hasattr(socket, "AF_UNIX"):
        return
    with tempfile.TemporaryDirectory(prefix="af") as folder:
        path = os.path.join(folder, "s")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()  # a socket file left behind
        for style in _STYLES:
            errors: list[BaseException] = []
            with serving(adapter, _Server(style=style), path=path):
                threads = [
                    threading.Thread(target=_unix_echo, args=(path, seed, errors))
                    for seed in range(1, 5)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            assert not errors, f"{style}: {errors[0]!r}"


def _write_before_reading(sock: socket.socket, script: bytes, what: str) -> None:
    """Send *script* whole, reading nothing; fail if the server stops reading it."""
    try:
        sock.sendall(script)
    except TimeoutError:
        raise AssertionError(
            f"{what}: the server stopped reading a pipeline written before its replies"
            f" are read ({len(script):,} bytes not all taken within {TIMEOUT} s)"
        ) from None


def check_pipeline_before_reading(adapter: AdapterUnderTest) -> None:
    """A client that writes a whole pipeline before it reads a reply gets every reply,
    at the default settings.

    The pipeline is redis-py's way: 60 requests each answered with 100 kB, then 400
    requests carrying 100 kB each (answered ``OK``), 40 MB written before a byte is
    read. Its 6 MB of replies pass ``high_water``, so the server must go on reading
    (and keeping) the requests while its output waits for the client. Each callback
    style is checked.
    """
    reply, gets, sets = 100_000, 60, 400
    script = b"BIG %d\n" % reply * gets + (b"PUT " + b"v" * reply + b"\n") * sets
    for style in _STYLES:
        server = _Server(style=style)
        expected = server.reply(reply) * gets + b"OK\n" * sets
        with serving(adapter, server) as address, _connect(address) as sock:
            _write_before_reading(sock, script, style)
            got = _read_exactly(sock, len(expected))
            assert got == expected, (
                f"{style}: after a pipeline got {len(got):,} bytes of {len(expected):,},"
                " or bytes other than the replies"
            )


def check_input_limit(adapter: AdapterUnderTest) -> None:
    """A client that writes requests and never reads a reply is closed once the server
    keeps more than ``input_limit`` bytes of its input, with a log record: memory
    stays bounded, and other clients are served.

    With ``high_water`` 64 KiB and ``input_limit`` 1 MiB, the client asks for a
    16 MiB reply (more than the socket buffers hold, so output waits), then writes
    requests (up to 64 MiB) without reading: the server
    must close the connection before it has read them all, run ``on_close`` and log
    a record naming ``input_limit``.
    """
    high_water, input_limit, most = 65536, 1 << 20, 64 << 20
    line = b"PUT " + b"p" * 1019 + b"\n"
    chunk = line * 1024  # 1 MiB
    server = _Server()
    with (
        _logs() as logs,
        serving(adapter, server, high_water=high_water, input_limit=input_limit) as address,
    ):
        with _connect(address, rcvbuf=65536) as sock:
            sock.sendall(b"BIG %d\n" % (16 << 20))
            sent = 0
            try:
                while sent < most:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except (ConnectionResetError, BrokenPipeError):
                pass  # the server closed the connection: what must happen
            except TimeoutError:
                raise AssertionError(
                    f"the server stopped reading after {sent:,} bytes without closing the"
                    f" connection (input_limit={input_limit:,})"
                ) from None
            assert sent < most, (
                f"the server read {most:,} bytes from a client that reads nothing, with"
                f" input_limit={input_limit:,}: its input is not bounded"
            )
        handler = server.handlers[0]
        _wait_for(partial(handler.saw, "close"), "on_close past input_limit")
        named = [r for r in logs.records if "input_limit" in r.getMessage()]
        assert named, (
            "no log record of level WARNING or above names input_limit; got"
            f" {[r.getMessage() for r in logs.records]}"
        )
        _echo_session(address, seed=13)


def _check_unusable_factory(
    adapter: AdapterUnderTest, bad: Callable[[], object], says: str
) -> None:
    """The first connection's handler is *bad*'s result: it fails that connection only,
    with one log record whose message contains *says*; the server goes on serving."""
    server = _Server()
    first = [True]

    def factory() -> Handler:
        if first[0]:
            first[0] = False
            return bad()  # type: ignore[return-value]
        return server()

    with _logs() as logs, serving(adapter, factory) as address:
        with _connect(address) as sock:
            got = _read_to_end(sock)
        assert got == b"", f"a connection without a usable handler got {got!r}"
        _echo_session(address, seed=17)
        _echo_session(address, seed=19)
        messages = [r.getMessage() for r in logs.records]
        assert len(messages) == 1, f"expected one log record, got {len(messages)}: {messages}"
        assert says in messages[0], f"the log record does not say {says!r}: {messages[0]!r}"


class _NoSuperInit(Handler):
    """A Handler whose ``__init__`` forgot ``super().__init__()``: it has no channel."""

    def __init__(self) -> None:
        self.greeting = b"hello\n"

    def on_connect(self) -> None:
        self.push(self.greeting)


def check_factory_returning_none(adapter: AdapterUnderTest) -> None:
    """A handler factory that returns ``None`` fails that connection only: it is closed,
    one log record says so (its message contains ``None``), and the server goes on
    serving other clients."""
    _check_unusable_factory(adapter, lambda: None, "None")


def check_handler_without_super_init(adapter: AdapterUnderTest) -> None:
    """A Handler whose ``__init__`` skips ``super().__init__()`` fails that connection
    only: it is closed, one log record says what to do (its message contains
    ``super().__init__()``), and the server goes on serving other clients."""
    _check_unusable_factory(adapter, _NoSuperInit, "super().__init__()")


def check_tls_big_reply_then_close_notify(adapter: AdapterUnderTest) -> None:
    """Over TLS, a client that asks for a 64 MiB reply and sends its close_notify at
    once gets every byte of the reply (and ``on_eof``'s answer) before the stream
    ends. Needs trustme (``pip install "asyncframe[test]"``).
    """
    size = 64 << 20
    server_ctx, client_ctx = _tls_contexts()
    server = _Server()
    expected = server.reply(size) + b"TAIL \n"
    with serving(adapter, server, ssl=server_ctx) as address:
        client = _TLSClient(address, client_ctx)
        with contextlib.closing(client):
            client.sendall(b"BIG %d\n" % size)
            client.close_notify()
            got = client.read_to_end()
        assert len(got) == len(expected), (
            f"after close_notify the client got {len(got):,} bytes of {len(expected):,},"
            f" then the stream ended ({client.ended})"
        )
        assert got == expected, "the reply arrived corrupted"
        handler = server.handlers[0]
        _wait_for(partial(handler.saw, "close"), "on_close after close_notify")


def _end_tls(client: _TLSClient, ending: str) -> None:
    if ending == "close_notify":
        client.close_notify()
    else:  # a ragged EOF: TCP's FIN, no close_notify
        client.sock.shutdown(socket.SHUT_WR)


def check_tls_ragged_eof_after_request(adapter: AdapterUnderTest) -> None:
    """Over TLS, a client that ends its TCP side without a close_notify (a ragged
    EOF) right after a request still gets the reply: the ragged EOF is an EOF
    (``on_eof`` runs), the reply is sent, then the connection closes. Each callback
    style is checked. Needs trustme (``pip install "asyncframe[test]"``).
    """
    server_ctx, client_ctx = _tls_contexts()
    for style in _STYLES:
        server = _Server(style=style, quiet_eof=True)
        expected = b"ragged\n" + server.reply(262144)
        with serving(adapter, server, ssl=server_ctx) as address:
            client = _TLSClient(address, client_ctx)
            with contextlib.closing(client):
                client.sendall(b"ECHO ragged\nBIG 262144\n")
                _end_tls(client, "ragged")
                got = client.read_to_end()
            assert got == expected, (
                f"{style}: after a ragged EOF the client got {len(got):,} bytes of"
                f" {len(expected):,} ({got[:20]!r}...)"
            )
            handler = server.handlers[0]
            _wait_for(partial(handler.saw, "close"), f"{style}: on_close after a ragged EOF")
            assert handler.events == ["connect", "eof", "close"], f"{style}: {handler.events}"


def _check_flushed_after(adapter: AdapterUnderTest, tls: bool, endings: tuple[str, ...]) -> None:
    """The client asks for 1 MiB and an echo, may leave an unterminated tail, and ends
    its side in each of *endings*; it must get every reply, ``on_eof``'s too."""
    size, eof_reply = 1 << 20, 256 << 10
    server_ctx, client_ctx = _tls_contexts() if tls else (None, None)
    for style in _STYLES:
        server = _Server(style=style, eof_reply=eof_reply)
        options = {"ssl": server_ctx} if tls else {}
        with serving(adapter, server, **options) as address:
            for ending in endings:
                for tail in (b"", b"half a li"):
                    what = f"{style}, {ending}" + (", mid-frame" if tail else "")
                    before = len(server.handlers)
                    request = b"BIG %d\nECHO echoed\n%s" % (size, tail)
                    if client_ctx is not None:
                        client = _TLSClient(address, client_ctx)
                        with contextlib.closing(client):
                            client.sendall(request)
                            _end_tls(client, ending)
                            got = client.read_to_end()
                    else:
                        with _connect(address) as sock:
                            sock.sendall(request)
                            sock.shutdown(socket.SHUT_WR)
                            got = _read_to_end(sock)
                    expected = (
                        server.reply(size)
                        + b"echoed\nTAIL "
                        + tail
                        + b"\n"
                        + server.reply(eof_reply)
                    )
                    assert got == expected, (
                        f"{what}: the client got {len(got):,} bytes of {len(expected):,}"
                        " before the connection closed"
                    )
                    handler = server.handlers[before]
                    _wait_for(partial(handler.saw, "close"), f"{what}: on_close")
                    assert handler.events == ["connect", "eof", "close"], (
                        f"{what}: {handler.events}"
                    )


def check_replies_flushed_at_eof(adapter: AdapterUnderTest) -> None:
    """After the peer's EOF, a TCP half-close or a TLS close_notify, every reply
    pushed is sent before the connection closes, whether the EOF comes after a whole
    request or in the middle of a frame.

    The client asks for 1 MiB and an echo, may leave an unterminated tail, and ends
    its side; ``on_eof`` answers the tail and pushes 256 KiB more. The client reads
    all of it, then the end of the stream; ``on_close`` runs after ``on_eof``. Each
    callback style is checked. Needs trustme (``pip install "asyncframe[test]"``).
    """
    _check_flushed_after(adapter, tls=False, endings=("half-close",))
    _check_flushed_after(adapter, tls=True, endings=("close_notify",))


def check_replies_flushed_at_ragged_eof(adapter: AdapterUnderTest) -> None:
    """Over TLS, after a ragged EOF (TCP closed without a close_notify) every reply is
    sent before the connection closes, ``on_eof``'s too, as after a close_notify:
    :func:`check_replies_flushed_at_eof`'s exchanges, ended with a ragged EOF.
    Needs trustme (``pip install "asyncframe[test]"``).
    """
    _check_flushed_after(adapter, tls=True, endings=("ragged",))


#: Every check, in the order :func:`check_adapter` runs them.
CHECKS: tuple[Callable[[AdapterUnderTest], None], ...] = (
    check_echo_under_awkward_chunkings,
    check_peername,
    check_half_close_with_tail,
    check_reset_mid_frame,
    check_never_reading_peer,
    check_endless_producer_peer_leaves,
    check_raising_callbacks,
    check_blocked_writer_closes,
    check_idle_timeout,
    check_frame_too_long,
    check_tls_echo,
    check_tls_close_notify,
    check_starttls,
    check_starttls_injection,
    check_starttls_handshake_failure,
    check_starttls_close_notify,
    check_unix_socket,
    check_pipeline_before_reading,
    check_input_limit,
    check_factory_returning_none,
    check_handler_without_super_init,
    check_tls_big_reply_then_close_notify,
    check_tls_ragged_eof_after_request,
    check_replies_flushed_at_eof,
    check_replies_flushed_at_ragged_eof,
    check_many_concurrent_clients,
)


def check_adapter(adapter: AdapterUnderTest) -> None:
    """Run every check of :data:`CHECKS` on *adapter*; the first failure is raised."""
    for check in CHECKS:
        check(adapter)
