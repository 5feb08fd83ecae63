"""The selectors :class:`Loop`: sockets, timers and wakeups in one thread.

The loop waits on a :class:`selectors.DefaultSelector` (epoll on Linux), runs the
callbacks and timers that are due, and hands each socket event to its
:class:`~asyncframe.adapters.selectors._connection.Connection` or
:class:`~asyncframe.adapters.selectors._listener.Listener`.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import os
import selectors
import signal
import socket
import ssl as ssl_module
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from asyncframe import Handler
from asyncframe.adapters._checks import (
    DEFAULT_BACKLOG,
    DEFAULT_HIGH_WATER,
    DEFAULT_INPUT_LIMIT,
    DEFAULT_READ_SIZE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    client_tls,
    connected_socket,
    options,
    server_socket,
    server_tls,
)

from ._connection import CONNECTING, Connection
from ._listener import Listener

__all__ = ["Loop", "TimerHandle"]

logger = logging.getLogger("asyncframe.adapters.selectors")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class TimerHandle:
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


class Loop:
    """An event loop on :class:`selectors.DefaultSelector` that runs Handlers.

    Create it, add servers with :meth:`listen` and clients with :meth:`connect`,
    then :meth:`run` it. It is not thread-safe, except :meth:`stop` and
    :meth:`call_soon_threadsafe`. Use it as a context manager, or call
    :meth:`close`, to close every socket it still holds.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._connections: dict[int, Connection] = {}
        self._listeners: dict[int, Listener] = {}
        self._ready: deque[Callable[[], object]] = deque()
        self._timers: list[tuple[float, int, TimerHandle]] = []
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
        host: str | None = None,
        port: int | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        sock: socket.socket | None = None,
        reuse_port: bool = False,
        read_size: int = DEFAULT_READ_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        idle_timeout: float | None = None,
        backlog: int = DEFAULT_BACKLOG,
        ssl: ssl_module.SSLContext | None = None,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> Any:
        """Listen on *host*:*port*; each accepted connection runs ``handler_factory()``.

        Returns the bound ``(host, port)``: pass port 0 to let the system choose.
        *host* may be an IPv4 or IPv6 address or a name (its first address;
        ``None``: every interface). Instead of *host* and *port*: *path*, a Unix
        domain socket to listen on (returned; a stale socket file there is removed
        first, its permissions are the caller's), or *sock*, a listening socket
        you already have (inherited, pre-bound, from systemd's socket activation),
        which the loop then owns (its ``getsockname()`` is returned).
        *reuse_port* sets ``SO_REUSEPORT`` on the TCP socket, so that several
        processes serve one port. *read_size* is the most bytes read at once;
        while more than *high_water* bytes of a connection's output wait to be
        sent, its handler gets no more input (reading goes on, up to
        *input_limit* bytes, so that a pipeline written before its replies are
        read completes; past that the connection is closed); *idle_timeout*
        closes a connection after that many seconds without a received byte;
        *backlog* is the listen queue. With *ssl*, a server-side
        :class:`ssl.SSLContext`, connections are served over TLS:
        ``handler_factory()`` is called once a handshake has completed (a failed
        one closes its connection, logged at debug level); a handshake not done
        within *tls_handshake_timeout* seconds (``None``: unbounded) closes its
        connection, as does one that a :meth:`~asyncframe.Handler.start_tls` began.
        """
        self._check_open()
        if not callable(handler_factory):
            raise TypeError("handler_factory must be callable (a Handler subclass, say)")
        opts = options(
            read_size=read_size,
            high_water=high_water,
            input_limit=input_limit,
            idle_timeout=idle_timeout,
            backlog=backlog,
            tls_handshake_timeout=tls_handshake_timeout,
        )
        context = server_tls(ssl)
        listening = server_socket(
            host, port, opts.backlog, path=path, sock=sock, reuse_port=reuse_port
        )
        listener = Listener(self, listening, handler_factory, opts, context)
        self._listeners[listening.fileno()] = listener
        self._selector.register(listening, _READ, None)
        name = listening.getsockname()
        if listening.family in (socket.AF_INET, socket.AF_INET6):
            return name[0], name[1]
        return name

    def connect(
        self,
        handler: Handler,
        host: str | None = None,
        port: int | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        sock: socket.socket | None = None,
        read_size: int = DEFAULT_READ_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        idle_timeout: float | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        server_hostname: str | None = None,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> None:
        """Connect to *host*:*port* (or the Unix domain socket *path*, or over
        *sock*, a connected socket, which the loop then owns) and run *handler*
        on the connection.

        The connection is made while the loop runs; ``handler.on_connect()`` is
        called once it is up (with *ssl*, once the TLS handshake has completed),
        ``handler.on_close()`` if it fails. The options are :meth:`listen`'s.
        With *ssl* (an :class:`ssl.SSLContext`, or True for
        :func:`ssl.create_default_context`) the connection is TLS; the server's
        certificate must match *server_hostname*, *host* by default (``""``: no
        match, as in asyncio, for a context that does not check host names).
        """
        self._check_open()
        if not isinstance(handler, Handler):
            raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
        opts = options(
            read_size=read_size,
            high_water=high_water,
            input_limit=input_limit,
            idle_timeout=idle_timeout,
            tls_handshake_timeout=tls_handshake_timeout,
        )
        context = client_tls(ssl, server_hostname)
        target = connected_socket(host, port, path, sock)
        name = host if server_hostname is None else server_hostname or None
        if context is not None and name is None and context.check_hostname:
            raise ValueError("server_hostname is empty, but ssl.check_hostname is true")
        sockaddr: Any
        if sock is not None:
            made, sockaddr = target, None
        elif path is not None:
            made, sockaddr = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), target
        else:
            assert host is not None
            assert port is not None
            family, kind, proto, _, sockaddr = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )[0]
            made = socket.socket(family, kind, proto)
        made.setblocking(False)
        conn = Connection(self, made, opts, CONNECTING, handler=handler)
        if context is not None:
            conn.client_tls = (context, name)  # once connected, the handshake
        err = 0 if sockaddr is None else made.connect_ex(sockaddr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self.call_soon(conn.close)
            return
        conn.register(_WRITE)

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Call *callback* on the loop's next turn (from the loop's own thread)."""
        self._ready.append(callback)

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> None:
        """Like :meth:`call_soon`, from any thread; wakes the loop up."""
        with self._lock:
            self._ready.append(callback)
        self._wake()

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Call *callback* after *delay* seconds (from the loop's own thread).

        Returns a handle whose ``cancel()`` prevents the call. :meth:`run` keeps
        running while a timer is pending.
        """
        timer = TimerHandle(self, callback)
        self._live_timers += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), timer))
        return timer

    def stop(self) -> None:
        """Make :meth:`run` return after the current turn; safe from any thread, and
        from a signal handler (:meth:`run` in the main thread wakes up for signals).

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
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                kind = type(timeout).__name__
                raise TypeError(f"timeout must be a number of seconds or None, not {kind}")
            if not timeout >= 0:
                raise ValueError(f"timeout must be >= 0 seconds, not {timeout}")
        deadline = None if timeout is None else time.monotonic() + timeout
        select = self._selector.select
        wakeup = self._wake_on_signals()
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
                        self._listeners[fd].accept()
                    elif key.fileobj is self._wake_r:
                        self._drain_wakeups()
                # Read without the lock: a callback added from another thread while
                # this looks also writes the wakeup pipe, so the next select returns.
                if self._ready or self._timers:
                    self._run_callbacks()
        finally:
            self._stopping = False
            if wakeup is not None:
                signal.set_wakeup_fd(wakeup)

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

    def _wake_on_signals(self) -> int | None:
        """In the main thread, make a signal wake the loop up; return the wakeup fd to
        put back after :meth:`run` (``None``: nothing changed).

        Python runs a signal's handler (one that calls :meth:`stop`, say) in the main
        thread between bytecodes. A signal that arrives just before the wait starts,
        or is taken by another thread, interrupts nothing: the handler would wait for
        the next event. The signal wakeup fd makes that event.
        """
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            previous = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        except ValueError:  # not the main interpreter
            return None
        if previous != -1:
            signal.set_wakeup_fd(previous)  # another loop's (asyncio's, trio's): keep it
            return None
        return previous

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

    def adopt(self, conn: Connection) -> None:
        """Hand *conn*'s socket events to it from now on."""
        self._connections[conn.sock.fileno()] = conn

    def forget(self, conn: Connection) -> None:
        """*conn* is closing: its socket events no longer go to it."""
        self._connections.pop(conn.sock.fileno(), None)

    def register(self, conn: Connection, events: int) -> None:
        """Wait for *events* on *conn*'s socket (0: none), in place of what it waited for."""
        if conn.events == 0:
            if events:
                self._selector.register(conn.sock, events, None)
        elif events:
            self._selector.modify(conn.sock, events, None)
        else:
            self._selector.unregister(conn.sock)

    def unregister(self, conn: Connection) -> None:
        """Wait for nothing on *conn*'s socket."""
        if conn.events:
            self._selector.unregister(conn.sock)
            conn.events = 0

    def pause_listener(self, listener: Listener, delay: float) -> None:
        """Stop accepting on *listener* for *delay* seconds (out of descriptors)."""
        listener.paused = True
        self._selector.unregister(listener.sock)
        self.call_later(delay, lambda: self._resume_listener(listener))

    def _resume_listener(self, listener: Listener) -> None:
        if listener.paused and listener.sock.fileno() in self._listeners:
            listener.paused = False
            self._selector.register(listener.sock, _READ, None)
            listener.accept()
