"""A small event loop on :mod:`selectors` that runs :class:`~asyncframe.Handler` objects.

::

    from asyncframe import Handler
    from asyncframe.adapters.selectors import Loop

    class Echo(Handler):
        def on_data(self, data):
            self.push(data)
        def on_terminator(self, terminator):
            self.push(terminator)

    with Loop() as loop:
        host, port = loop.listen(("127.0.0.1", 0), Echo)
        loop.run()          # until loop.stop(), from any thread

Sockets are non-blocking; output is written as soon as a callback queues it and,
when the socket's buffer is full, as soon as it has room again, so a large producer
is pulled only as fast as the peer reads, and a peer that sends without reading
stops being read once more than *high_water* bytes of replies wait for it. A peer
that closes its side (EOF) gets the rest of its output before the connection is
closed; a reset, or an exception raised by a handler, closes that connection only.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from asyncframe import Handler
from asyncframe.adapters._checks import check_sizes

__all__ = ["Loop"]

logger = logging.getLogger("asyncframe.adapters.selectors")

Address = tuple[str, int]

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class _Connection:
    """One socket and its Handler."""

    __slots__ = (
        "closed",
        "connecting",
        "events",
        "handler",
        "in_callback",
        "loop",
        "peer_eof",
        "sock",
    )

    def __init__(self, loop: Loop, sock: socket.socket, handler: Handler) -> None:
        self.loop = loop
        self.sock = sock
        self.handler = handler
        self.events = 0
        self.closed = False
        self.connecting = False
        self.peer_eof = False
        self.in_callback = False
        handler.set_wakeup(self._wakeup)

    # -- user code, guarded ------------------------------------------------------------

    def _call(self, func: Callable[[], object]) -> bool:
        """Run a handler method; on an exception, log it and abort this connection."""
        self.in_callback = True
        try:
            func()
        except Exception:
            logger.exception("handler %r raised; closing its connection", self.handler)
            self.close()
            return False
        finally:
            self.in_callback = False
        return True

    def _wakeup(self) -> None:
        # Output queued outside a callback (from a timer, say): act on it soon.
        if not self.in_callback and not self.closed:
            self.loop.call_soon(self.update)

    # -- events ------------------------------------------------------------------------

    def start(self) -> None:
        if self._call(self.handler.connection_made):
            self.update()

    def on_event(self, mask: int) -> None:
        if self.connecting:
            self._finish_connect()
            return
        if mask & _READ and not self.closed:
            self._read()
        if mask & _WRITE and not self.closed:
            self._write()
            self.update()

    def _finish_connect(self) -> None:
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self.connecting = False
        if err:
            logger.debug("connect failed: %s", errno.errorcode.get(err, err))
            self.close()
            return
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.start()

    def _read(self) -> None:
        try:
            data = self.sock.recv(self.loop.read_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            logger.debug("recv failed: %s", exc)
            self.close()
            return
        if data:
            if self._call(lambda: self.handler.data_received(data)):
                self.update()
        else:
            self.peer_eof = True
            if self._call(self.handler.eof_received):
                self.update()

    def _write(self) -> bool:
        """Send what the socket takes; return true if all output went out."""
        handler = self.handler
        size = self.loop.write_size
        while True:
            try:
                data = handler.peek_output(size)
            except Exception:
                logger.exception("a producer of %r raised; closing its connection", handler)
                self.close()
                return False
            if not data:
                return True
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                logger.debug("send failed: %s", exc)
                self.close()
                return False
            handler.consume_output(sent)
            if sent < len(data):
                return False

    def update(self) -> None:
        """Write what can be written, then close or (re)register as the state requires."""
        if self.closed or self.connecting:
            return
        handler = self.handler
        if handler.wants_abort:
            self.close()
            return
        flushed = self._write()
        if self.closed:
            return
        if flushed and (handler.wants_close or self.peer_eof):
            self.close()
            return
        reading = not self.peer_eof and handler.buffered_output <= self.loop.high_water
        events = (_READ if reading else 0) | (0 if flushed else _WRITE)
        if events != self.events:
            self.loop._register(self, events)
            self.events = events

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop._unregister(self)
        try:
            self.sock.close()
        finally:
            try:
                self.handler.connection_lost()
            except Exception:
                logger.exception("on_close of %r raised", self.handler)


class Loop:
    """An event loop on :class:`selectors.DefaultSelector` that runs Handlers.

    Create it, add servers with :meth:`listen` and clients with :meth:`connect`,
    then :meth:`run` it. It is not thread-safe, except :meth:`stop` and
    :meth:`call_soon_threadsafe`. Use it as a context manager, or call
    :meth:`close`, to close every socket it still holds.

    :param read_size: the most bytes read from a socket at once.
    :param write_size: the most bytes of output offered to a socket at once.
    :param high_water: stop reading from a connection while more than this many
        bytes of its output wait to be sent (a peer that sends without reading
        cannot make the server buffer without bound); reading resumes once the
        output drains below it.
    """

    def __init__(
        self, *, read_size: int = 65536, write_size: int = 65536, high_water: int = 1 << 20
    ) -> None:
        check_sizes(read_size=read_size, write_size=write_size, high_water=high_water)
        self.read_size = read_size
        self.write_size = write_size
        self.high_water = high_water
        self._selector = selectors.DefaultSelector()
        self._connections: dict[int, _Connection] = {}
        self._listeners: dict[int, tuple[socket.socket, Callable[[], Handler]]] = {}
        self._ready: deque[Callable[[], object]] = deque()
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._stopping = False
        self._closed = False
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, _READ, None)

    # -- public API --------------------------------------------------------------------

    def listen(
        self,
        address: Address,
        handler_factory: Callable[[], Handler],
        *,
        backlog: int = 128,
    ) -> Address:
        """Listen on *address*; each accepted connection gets ``handler_factory()``.

        Returns the bound ``(host, port)``: pass port 0 to let the system choose.
        """
        self._check_open()
        if not callable(handler_factory):
            raise TypeError("handler_factory must be callable (a Handler subclass, say)")
        sock = socket.create_server(address, backlog=backlog)
        sock.setblocking(False)
        self._listeners[sock.fileno()] = (sock, handler_factory)
        self._selector.register(sock, _READ, None)
        host, port = sock.getsockname()[:2]
        return host, port

    def connect(self, address: Address, handler: Handler) -> None:
        """Connect to *address* and run *handler* on the connection.

        The connection is made while the loop runs; ``handler.on_connect()`` is
        called once it is up, ``handler.on_close()`` if it fails.
        """
        self._check_open()
        if not isinstance(handler, Handler):
            raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
        host, port = address
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        conn = _Connection(self, sock, handler)
        conn.connecting = True
        self._connections[sock.fileno()] = conn
        err = sock.connect_ex(sockaddr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            conn.connecting = False
            self.call_soon(conn.close)
            return
        self._register(conn, _WRITE)
        conn.events = _WRITE

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Call *callback* on the loop's next turn (from the loop's own thread)."""
        self._ready.append(callback)

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> None:
        """Like :meth:`call_soon`, from any thread; wakes the loop up."""
        with self._lock:
            self._ready.append(callback)
        self._wake()

    def call_later(self, delay: float, callback: Callable[[], object]) -> None:
        """Call *callback* after *delay* seconds (from the loop's own thread)."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), callback))

    def stop(self) -> None:
        """Make :meth:`run` return after the current turn; safe from any thread."""
        self._stopping = True
        self._wake()

    @property
    def connections(self) -> int:
        """How many connections are open."""
        return len(self._connections)

    def run(self, timeout: float | None = None) -> None:
        """Run until :meth:`stop` is called, no socket remains, or *timeout* seconds pass."""
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        self._stopping = False
        select = self._selector.select
        while not self._stopping:
            if not self._connections and not self._listeners and not self._ready:
                return
            wait: float | None = None
            now = time.monotonic()
            if self._ready:
                wait = 0
            elif self._timers:
                wait = max(0.0, self._timers[0][0] - now)
            if deadline is not None:
                left = deadline - now
                if left <= 0:
                    return
                wait = left if wait is None else min(wait, left)
            for key, mask in select(wait):
                fd = key.fd
                conn = self._connections.get(fd)
                if conn is not None:
                    conn.on_event(mask)
                elif fd in self._listeners:
                    self._accept(*self._listeners[fd])
                elif key.fileobj is self._wake_r:
                    self._drain_wakeups()
            self._run_callbacks()

    def close(self) -> None:
        """Close every listener and connection (handlers get ``on_close()``)."""
        if self._closed:
            return
        for conn in list(self._connections.values()):
            conn.close()
        for sock, _ in list(self._listeners.values()):
            self._selector.unregister(sock)
            sock.close()
        self._listeners.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self._closed = True

    def __enter__(self) -> Loop:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Loop is closed")

    def _wake(self) -> None:
        # A full buffer means the loop is awake already; an error, that it is closing.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _run_callbacks(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            self._ready.append(heapq.heappop(self._timers)[2])
        with self._lock:
            ready = list(self._ready)
            self._ready.clear()
        for callback in ready:
            try:
                callback()
            except Exception:
                logger.exception("callback %r raised", callback)

    def _accept(self, server: socket.socket, factory: Callable[[], Handler]) -> None:
        for _ in range(64):
            try:
                sock, _ = server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. EMFILE: keep serving the others
                logger.warning("accept failed: %s", exc)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                handler = factory()
            except Exception:
                logger.exception("handler_factory raised; dropping the connection")
                sock.close()
                continue
            conn = _Connection(self, sock, handler)
            self._connections[sock.fileno()] = conn
            conn.start()

    def _register(self, conn: _Connection, events: int) -> None:
        if conn.events == 0:
            if events:
                self._selector.register(conn.sock, events, None)
        elif events:
            self._selector.modify(conn.sock, events, None)
        else:
            self._selector.unregister(conn.sock)

    def _unregister(self, conn: _Connection) -> None:
        if conn.events:
            self._selector.unregister(conn.sock)
            conn.events = 0
        self._connections.pop(conn.sock.fileno(), None)
