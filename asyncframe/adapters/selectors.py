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

TLS: pass an :class:`ssl.SSLContext` as ``ssl=`` to :meth:`Loop.listen` or
:meth:`Loop.connect`. The handshake runs in the loop, without blocking it; the
handler starts once it has completed.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import heapq
import itertools
import logging
import selectors
import signal
import socket
import ssl as ssl_module
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from asyncframe import AcceptBackoff, Handler
from asyncframe.adapters._checks import (
    DEFAULT_BACKLOG,
    DEFAULT_HIGH_WATER,
    DEFAULT_READ_SIZE,
    Options,
    client_tls,
    listening_socket,
    options,
    server_tls,
)

__all__ = ["Loop", "TimerHandle"]

logger = logging.getLogger("asyncframe.adapters.selectors")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_WRITE_SIZE = 65536


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
        self.timer: TimerHandle | None = None
        self.driver = opts.driver(handler, clock=time.monotonic, schedule=self._wakeup, log=logger)

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
            data = self._recv()
        except OSError as exc:  # a reset (or, over TLS, a broken record)
            logger.debug("recv failed: %r", exc)
            self.close()
            return
        if data is None:
            return
        self.driver.receive(data)
        self.update()

    def _recv(self) -> bytes | None:
        """Receive what the socket has (``b""``: EOF); None if nothing is to be read now."""
        try:
            return self.sock.recv(self.read_size)
        except (BlockingIOError, InterruptedError):
            return None

    def _write(self) -> bool:
        """Send what the socket takes; return true if all output went out."""
        driver = self.driver
        while True:
            data = driver.peek(_WRITE_SIZE)
            if not data:
                return True
            try:
                sent = self._send(data)
            except OSError as exc:
                logger.debug("send failed: %r", exc)
                self.close()
                return False
            if sent is None:
                return False
            driver.consume(sent)
            if sent < len(data):
                return False

    def _send(self, data: bytes) -> int | None:
        """Send *data*; return how many bytes went, or None if the socket is full."""
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return None

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


class _TLSConnection(_Connection):
    """A connection over TLS, once its handshake is done (:class:`_Handshake`).

    The plaintext goes through the :class:`ssl.SSLSocket`. Two things differ from a
    plain socket: a receive may need to write first (``SSLWantWriteError``) and a
    send to read first (``SSLWantReadError``), when the peer renegotiates or updates
    its keys; and decrypted bytes may wait in the TLS layer, where no socket event
    will announce them (``sock.pending()``).
    """

    __slots__ = ("read_soon", "recv_wants_write", "send_wants_read")

    sock: ssl_module.SSLSocket

    def __init__(
        self, loop: Loop, sock: ssl_module.SSLSocket, handler: Handler, opts: Options
    ) -> None:
        super().__init__(loop, sock, handler, opts)
        self.read_soon = False
        self.recv_wants_write = False
        self.send_wants_read = False

    def on_event(self, mask: int) -> None:
        if self.recv_wants_write and mask & _WRITE:
            self.recv_wants_write = False
            self._read()
        elif self.send_wants_read and mask & _READ:
            self.send_wants_read = False
            self.update()
        else:
            super().on_event(mask)

    def _recv(self) -> bytes | None:
        if not self.driver.reading:
            # Registered for a send that waited on the peer: input waits (high_water).
            self.update()
            return None
        try:
            return self.sock.recv(self.read_size)
        except ssl_module.SSLWantReadError:
            return None  # a partial record: the rest comes with the next event
        except ssl_module.SSLWantWriteError:
            self.recv_wants_write = True
            self.update()
            return None
        except ssl_module.SSLEOFError:
            return b""  # a ragged EOF (no close_notify): an EOF, as on asyncio

    def _send(self, data: bytes) -> int | None:
        # After SSLWantWriteError the same bytes, or more, come again (peek), as a
        # retried SSL write must be given.
        try:
            return self.sock.send(data)
        except ssl_module.SSLWantWriteError:
            return None
        except ssl_module.SSLWantReadError:
            self.send_wants_read = True
            return None

    def update(self) -> None:
        super().update()
        if self.closed:
            return
        # What the TLS layer waits for, rather than what the driver asks: a send that
        # must read first waits for READ (WRITE would spin), a receive that must
        # write first for WRITE.
        events = self.events
        if self.send_wants_read:
            events = (events & ~_WRITE) | _READ
        if self.recv_wants_write:
            events |= _WRITE
        if events != self.events:
            self.loop._register(self, events)
            self.events = events
        # Decrypted bytes already in the TLS layer: no socket event will tell.
        if not self.read_soon and self.driver.reading and self.sock.pending():
            self.read_soon = True
            self.loop.call_soon(self._read_pending)

    def _read_pending(self) -> None:
        self.read_soon = False
        if not self.closed:
            self._read()

    def close(self) -> None:
        if not self.closed and not self.driver.aborting:
            # Best effort, never waiting: send close_notify if the socket takes it now.
            with contextlib.suppress(OSError, ValueError):
                self.sock.unwrap()
        super().close()


class _Connecting(_Connection):
    """A client connection over TLS until its handshake is done: then a
    :class:`_TLSConnection` takes over, with the same handler."""

    __slots__ = ("context", "opts", "server_hostname")

    def __init__(
        self,
        loop: Loop,
        sock: socket.socket,
        handler: Handler,
        opts: Options,
        context: ssl_module.SSLContext,
        server_hostname: str | None,
    ) -> None:
        super().__init__(loop, sock, handler, opts)
        self.opts = opts
        self.context = context
        self.server_hostname = server_hostname

    def start(self) -> None:
        """TCP is connected: start the handshake (the handler waits for it)."""
        self.connecting = True  # still: nothing is sent or read until the handshake is done
        self.loop._unregister(self)
        try:
            tls = self.context.wrap_socket(
                self.sock,
                server_side=False,
                do_handshake_on_connect=False,
                server_hostname=self.server_hostname,
            )
        except (OSError, ValueError) as exc:
            logger.debug("TLS setup failed: %r", exc)
            self.close()
            return
        done = functools.partial(self._secured, tls)
        _Handshake(self.loop, tls, self.opts.idle_timeout, done, self.close).step()

    def _secured(self, tls: ssl_module.SSLSocket) -> None:
        conn = _TLSConnection(self.loop, tls, self.driver.handler, self.opts)
        self.loop._connections[tls.fileno()] = conn
        conn.start()


class _Handshake:
    """The TLS handshake of a new connection, stepped by the loop as the socket allows.

    Once it completes, *done* runs (which starts the connection); if it fails, the
    peer leaves, the idle timeout passes or the loop closes, the socket is closed and
    *failed* runs.
    """

    __slots__ = ("closed", "done", "events", "failed", "loop", "sock", "timer")

    def __init__(
        self,
        loop: Loop,
        sock: ssl_module.SSLSocket,
        timeout: float | None,
        done: Callable[[], object],
        failed: Callable[[], object],
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.done = done
        self.failed = failed
        self.events = 0
        self.closed = False
        self.timer = None if timeout is None else loop.call_later(timeout, self._expired)
        loop._connections[sock.fileno()] = self

    def on_event(self, mask: int) -> None:
        self.step()

    def step(self) -> None:
        """Go on with the handshake; register for what it waits for, or hand over."""
        try:
            self.sock.do_handshake()
        except ssl_module.SSLWantReadError:
            events = _READ
        except ssl_module.SSLWantWriteError:
            events = _WRITE
        except (OSError, ValueError) as exc:  # a bad certificate, not TLS, a reset...
            logger.debug("TLS handshake failed: %r", exc)
            self.close()
            return
        else:
            self._end()
            self.done()
            return
        if events != self.events:
            self.loop._register(self, events)
            self.events = events

    def _expired(self) -> None:
        self.timer = None
        logger.debug("TLS handshake not done within the idle timeout")
        self.close()

    def _end(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.loop._unregister(self)

    def close(self) -> None:
        if self.closed:
            return
        self._end()
        try:
            self.sock.close()
        finally:
            self.failed()


class _Listener:
    """A listening socket, what it makes for each connection, and its accept backoff."""

    __slots__ = ("backoff", "factory", "opts", "paused", "sock", "ssl")

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], Handler],
        opts: Options,
        ssl: ssl_module.SSLContext | None,
    ) -> None:
        self.sock = sock
        self.factory = factory
        self.opts = opts
        self.ssl = ssl
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
        self._connections: dict[int, _Connection | _Handshake] = {}
        self._listeners: dict[int, _Listener] = {}
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
        host: str | None,
        port: int,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        idle_timeout: float | None = None,
        backlog: int = DEFAULT_BACKLOG,
        ssl: ssl_module.SSLContext | None = None,
    ) -> tuple[str, int]:
        """Listen on *host*:*port*; each accepted connection runs ``handler_factory()``.

        Returns the bound ``(host, port)``: pass port 0 to let the system choose.
        *host* may be an IPv4 or IPv6 address or a name (its first address;
        ``None``: every interface). *read_size* is the most bytes read at once; while more than
        *high_water* bytes of a connection's output wait to be sent, its handler
        gets no more input and the peer is not read; *idle_timeout* closes a
        connection after that many seconds without a received byte; *backlog* is
        the listen queue. With *ssl*, an :class:`ssl.SSLContext`, connections are
        served over TLS: ``handler_factory()`` is called once a handshake has
        completed (a failed one closes its connection, logged at debug level), and
        *idle_timeout* also bounds the handshake.
        """
        self._check_open()
        if not callable(handler_factory):
            raise TypeError("handler_factory must be callable (a Handler subclass, say)")
        opts = options(
            read_size=read_size, high_water=high_water, idle_timeout=idle_timeout, backlog=backlog
        )
        server_tls(ssl)
        sock = listening_socket(host, port, opts.backlog)
        self._listeners[sock.fileno()] = _Listener(sock, handler_factory, opts, ssl)
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
        ssl: ssl_module.SSLContext | bool | None = None,
        server_hostname: str | None = None,
    ) -> None:
        """Connect to *host*:*port* and run *handler* on the connection.

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
        opts = options(read_size=read_size, high_water=high_water, idle_timeout=idle_timeout)
        context = client_tls(ssl, server_hostname)
        name = host if server_hostname is None else server_hostname or None
        if context is not None and name is None and context.check_hostname:
            raise ValueError("server_hostname is empty, but ssl.check_hostname is true")
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        if context is None:
            conn = _Connection(self, sock, handler, opts)
        else:
            conn = _Connecting(self, sock, handler, opts, context, name)
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
                        self._accept(self._listeners[fd])
                    elif key.fileobj is self._wake_r:
                        self._drain_wakeups()
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
            if listener.ssl is None:
                self._serve(listener, sock)
            else:
                self._serve_tls(listener, sock)

    def _serve(self, listener: _Listener, sock: socket.socket) -> None:
        """Run a new handler on the accepted *sock*."""
        try:
            handler = listener.factory()
        except Exception:
            logger.exception("handler_factory raised; dropping the connection")
            sock.close()
            return
        if isinstance(sock, ssl_module.SSLSocket):
            conn: _Connection = _TLSConnection(self, sock, handler, listener.opts)
        else:
            conn = _Connection(self, sock, handler, listener.opts)
        self._connections[sock.fileno()] = conn
        conn.start()

    def _serve_tls(self, listener: _Listener, sock: socket.socket) -> None:
        """Do the TLS handshake on the accepted *sock*, then serve it."""
        assert listener.ssl is not None
        try:
            tls = listener.ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError) as exc:  # the peer is gone already
            logger.debug("TLS setup failed: %r", exc)
            sock.close()
            return
        done = functools.partial(self._serve, listener, tls)
        _Handshake(self, tls, listener.opts.idle_timeout, done, _nothing).step()

    def _resume_listener(self, listener: _Listener) -> None:
        if listener.paused and listener.sock.fileno() in self._listeners:
            listener.paused = False
            self._selector.register(listener.sock, _READ, None)
            self._accept(listener)

    def _register(self, conn: _Connection | _Handshake, events: int) -> None:
        if conn.events == 0:
            if events:
                self._selector.register(conn.sock, events, None)
        elif events:
            self._selector.modify(conn.sock, events, None)
        else:
            self._selector.unregister(conn.sock)

    def _unregister(self, conn: _Connection | _Handshake) -> None:
        if conn.events:
            self._selector.unregister(conn.sock)
            conn.events = 0
        self._connections.pop(conn.sock.fileno(), None)


def _nothing() -> None:
    return None
