"""A small event loop on :mod:`selectors` that runs :class:`~asyncframe.Handler` objects.

::

    from asyncframe import Handler
    from asyncframe.adapters.selectors import Loop

    class Echo(Handler):
        def on_frame(self, frame):
            self.push(frame + b"\\r\\n")

    with Loop() as loop:
        host, port = loop.listen(Echo, "127.0.0.1", 0)
        loop.run()          # until loop.stop(), from any thread

Sockets are non-blocking; output is written as soon as a callback queues it and,
when the socket's buffer is full, as soon as it has room again, so a large producer
is pulled only as fast as the peer reads. The connection policy (guarded callbacks,
output-bounded dispatch, close after the peer's EOF once output is flushed, the idle
timeout, accept backoff) is the core's :class:`~asyncframe.Driver`; this
module is the transport loop.
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
from typing import Any

from asyncframe import AcceptBackoff, Driver, Handler
from asyncframe.adapters._checks import (
    DEFAULT_BACKLOG,
    DEFAULT_HIGH_WATER,
    DEFAULT_READ_SIZE,
    Options,
    listening_socket,
    options,
)

__all__ = ["Loop"]

logger = logging.getLogger("asyncframe.adapters.selectors")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_WRITE_SIZE = 65536


class _Timer:
    """A callback :meth:`Loop.call_later` will run, unless cancelled."""

    __slots__ = ("callback", "loop")

    def __init__(self, loop: Loop, callback: Callable[[], object]) -> None:
        self.loop = loop
        self.callback: Callable[[], object] | None = callback

    def cancel(self) -> None:
        """Do not run the callback."""
        if self.callback is not None:
            self.callback = None
            self.loop._live_timers -= 1


class _Connection:
    """One socket and the Driver of its Handler."""

    __slots__ = ("closed", "connecting", "driver", "events", "loop", "read_size", "sock", "timer")

    def __init__(self, loop: Loop, sock: socket.socket, handler: Handler, opts: Options) -> None:
        self.loop = loop
        self.sock = sock
        self.read_size = opts.read_size
        self.events = 0
        self.closed = False
        self.connecting = False
        self.timer: _Timer | None = None
        self.driver = Driver(
            handler,
            high_water=opts.high_water,
            idle_timeout=opts.idle_timeout,
            clock=time.monotonic,
            schedule=self._wakeup,
            log=logger,
        )

    def _wakeup(self) -> None:
        self.loop.call_soon(self._woken)

    def _woken(self) -> None:
        self.driver.woke()
        self.update()

    def start(self) -> None:
        try:
            peername = self.sock.getpeername()
        except OSError:
            peername = None
        timeout = self.driver.idle_timeout
        if timeout is not None:
            self.timer = self.loop.call_later(timeout, self._idle)
        self.driver.start(peername)
        self.update()

    def _idle(self) -> None:
        self.timer = None
        if self.closed:
            return
        delay = self.driver.idle_check(time.monotonic())
        if delay is None:
            self.close()
        else:
            self.timer = self.loop.call_later(delay, self._idle)

    def on_event(self, mask: int) -> None:
        if self.connecting:
            self._finish_connect()
            return
        if mask & _READ:
            self._read()
        elif not self.closed:
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
            data = self.sock.recv(self.read_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            logger.debug("recv failed: %s", exc)
            self.close()
            return
        self.driver.receive(data)
        self.update()

    def _write(self) -> bool:
        """Send what the socket takes; return true if all output went out."""
        driver = self.driver
        while True:
            data = driver.peek(_WRITE_SIZE)
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
            driver.consume(sent)
            if sent < len(data):
                return False

    def update(self) -> None:
        """Write what can be written, then close or (re)register as the policy says."""
        if self.closed or self.connecting:
            return
        driver = self.driver
        if driver.aborting:
            self.close()
            return
        flushed = self._write()
        if self.closed:
            return
        if driver.aborting or (flushed and driver.finished):
            self.close()
            return
        events = (_READ if driver.reading else 0) | (0 if flushed else _WRITE)
        if events != self.events:
            self.loop._register(self, events)
            self.events = events

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.loop._unregister(self)
        try:
            self.sock.close()
        finally:
            self.driver.lost()


class _Listener:
    """A listening socket, what it makes for each connection, and its accept backoff."""

    __slots__ = ("backoff", "factory", "opts", "paused", "sock")

    def __init__(self, sock: socket.socket, factory: Callable[[], Handler], opts: Options) -> None:
        self.sock = sock
        self.factory = factory
        self.opts = opts
        self.backoff = AcceptBackoff(logger)
        self.paused = False


class Loop:
    """An event loop on :class:`selectors.DefaultSelector` that runs Handlers.

    Create it, add servers with :meth:`listen` and clients with :meth:`connect`,
    then :meth:`run` it. It is not thread-safe, except :meth:`stop` and
    :meth:`call_soon_threadsafe`. Use it as a context manager, or call
    :meth:`close`, to close every socket it still holds.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._connections: dict[int, _Connection] = {}
        self._listeners: dict[int, _Listener] = {}
        self._ready: deque[Callable[[], object]] = deque()
        self._timers: list[tuple[float, int, _Timer]] = []
        self._live_timers = 0
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
        handler_factory: Callable[[], Handler],
        host: str | None,
        port: int,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        idle_timeout: float | None = None,
        backlog: int = DEFAULT_BACKLOG,
        ssl: Any = None,
    ) -> tuple[str, int]:
        """Listen on *host*:*port*; each accepted connection runs ``handler_factory()``.

        Returns the bound ``(host, port)``: pass port 0 to let the system choose.
        *host* may be an IPv4 or IPv6 address or a name (its first address;
        ``None``: every interface). *read_size* is the most bytes read at once; while more than
        *high_water* bytes of a connection's output wait to be sent, its handler
        gets no more input and the peer is not read; *idle_timeout* closes a
        connection after that many seconds without a received byte; *backlog* is
        the listen queue. TLS (*ssl*) is not supported by this loop: use the
        asyncio or trio adapter for it.
        """
        self._check_open()
        if not callable(handler_factory):
            raise TypeError("handler_factory must be callable (a Handler subclass, say)")
        opts = options(
            read_size=read_size, high_water=high_water, idle_timeout=idle_timeout, backlog=backlog
        )
        _check_no_ssl(ssl)
        sock = listening_socket(host, port, opts.backlog)
        self._listeners[sock.fileno()] = _Listener(sock, handler_factory, opts)
        self._selector.register(sock, _READ, None)
        bound_host, bound_port = sock.getsockname()[:2]
        return bound_host, bound_port

    def connect(
        self,
        handler: Handler,
        host: str,
        port: int,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        idle_timeout: float | None = None,
        ssl: Any = None,
    ) -> None:
        """Connect to *host*:*port* and run *handler* on the connection.

        The connection is made while the loop runs; ``handler.on_connect()`` is
        called once it is up, ``handler.on_close()`` if it fails. The options are
        :meth:`listen`'s.
        """
        self._check_open()
        if not isinstance(handler, Handler):
            raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
        opts = options(read_size=read_size, high_water=high_water, idle_timeout=idle_timeout)
        _check_no_ssl(ssl)
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        conn = _Connection(self, sock, handler, opts)
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

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Timer:
        """Call *callback* after *delay* seconds (from the loop's own thread).

        Returns a handle whose ``cancel()`` prevents the call. :meth:`run` keeps
        running while a timer is pending.
        """
        timer = _Timer(self, callback)
        self._live_timers += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), timer))
        return timer

    def stop(self) -> None:
        """Make :meth:`run` return after the current turn; safe from any thread.

        Called before :meth:`run`, it makes the next :meth:`run` return at once.
        """
        self._stopping = True
        self._wake()

    @property
    def connections(self) -> int:
        """How many connections are open."""
        return len(self._connections)

    def run(self, timeout: float | None = None) -> None:
        """Run until :meth:`stop` is called, *timeout* seconds pass, or nothing is
        left to wait for (no socket, no callback, no timer)."""
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        select = self._selector.select
        try:
            while not self._stopping:
                if not (self._connections or self._listeners or self._ready or self._live_timers):
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
                        self._accept(self._listeners[fd])
                    elif key.fileobj is self._wake_r:
                        self._drain_wakeups()
                self._run_callbacks()
        finally:
            self._stopping = False

    def close(self) -> None:
        """Close every listener and connection (handlers get ``on_close()``)."""
        if self._closed:
            return
        for conn in list(self._connections.values()):
            conn.close()
        for listener in list(self._listeners.values()):
            if not listener.paused:
                self._selector.unregister(listener.sock)
            listener.sock.close()
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
        timers = self._timers
        if timers:
            now = time.monotonic()
            while timers and timers[0][0] <= now:
                timer = heapq.heappop(timers)[2]
                callback = timer.callback
                if callback is not None:
                    timer.callback = None
                    self._live_timers -= 1
                    self._ready.append(callback)
        with self._lock:
            ready = list(self._ready)
            self._ready.clear()
        for callback in ready:
            try:
                callback()
            except Exception:
                logger.exception("callback %r raised", callback)

    def _accept(self, listener: _Listener) -> None:
        server = listener.sock
        backoff = listener.backoff
        for _ in range(64):
            try:
                sock, _ = server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                delay = backoff.failed(exc)
                if delay is None:
                    continue
                # Out of descriptors: stop listening a while, the backlog holds them.
                listener.paused = True
                self._selector.unregister(server)
                self.call_later(delay, lambda: self._resume_listener(listener))
                return
            backoff.succeeded()
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                handler = listener.factory()
            except Exception:
                logger.exception("handler_factory raised; dropping the connection")
                sock.close()
                continue
            conn = _Connection(self, sock, handler, listener.opts)
            self._connections[sock.fileno()] = conn
            conn.start()

    def _resume_listener(self, listener: _Listener) -> None:
        if listener.paused and listener.sock.fileno() in self._listeners:
            listener.paused = False
            self._selector.register(listener.sock, _READ, None)
            self._accept(listener)

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


def _check_no_ssl(ssl: object) -> None:
    if ssl is not None:
        raise ValueError(
            "ssl is not supported by the selectors Loop; use the asyncio or trio adapter for TLS"
        )
