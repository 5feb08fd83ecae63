"""asyncio adapters: run a :class:`~asyncframe.Handler`, or read framed events as a stream.

Two ways in:

- :func:`serve` and :func:`connect` run a :class:`~asyncframe.Handler` per connection
  through :class:`HandlerProtocol`, an :class:`asyncio.BufferedProtocol` that honours
  flow control both ways: while the transport has asked to pause writing, no producer
  is pulled; while more than *high_water* bytes of output wait, the peer is not read.
- :class:`FramedStream` wraps an ``asyncio`` stream pair for ``async for event in
  stream`` code, with the framing done by a :class:`~asyncframe.Channel`.

TLS works as everywhere in asyncio: pass ``ssl=`` (and, for clients,
``server_hostname=``) through the keyword arguments; ``tls_handshake_timeout``
bounds the handshake, and a server makes its handler only once it completed. A
handler upgrades with :meth:`~asyncframe.Handler.start_tls` (through
:meth:`asyncio.loop.start_tls`), a stream with ``FramedStream.start_tls()``
(Python 3.11+).

``serve(factory, path=...)`` and ``connect(handler, path=...)`` use a Unix domain
socket; ``sock=`` a socket you already have (a listening one for :func:`serve`,
which then owns it; a connected one for :func:`connect`); ``reuse_port=True`` lets
several processes serve one port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl as ssl_module
import threading
from collections.abc import Callable
from typing import Any

from asyncframe import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_RECORD_SIZE,
    AcceptBackoff,
    Driver,
    Handler,
    ProtocolError,
    TerminatorSpec,
)
from asyncframe._driver import (
    ABORTING,
    DRAINING,
    OPEN,
    UPGRADING,
    Options,
    TLSUpgrade,
    start_handler,
)
from asyncframe.adapters._checks import (
    DEFAULT_BACKLOG,
    DEFAULT_HIGH_WATER,
    DEFAULT_INPUT_LIMIT,
    DEFAULT_READ_SIZE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    check_sizes,
    connected_socket,
    nodelay,
    options,
    server_socket,
    server_tls,
    upgrade_context,
)
from asyncframe.adapters._stream import BaseFramedStream

__all__ = ["FramedStream", "HandlerProtocol", "connect", "serve"]

logger = logging.getLogger("asyncframe.adapters.asyncio")

_receive_buffers = threading.local()


def _receive_buffer(size: int) -> memoryview:
    """Return this thread's receive buffer of *size* bytes, shared by its protocols.

    asyncio fills the buffer from ``get_buffer()`` and calls ``buffer_updated()``
    straight after, which hands the bytes to a Channel that copies them; so one
    buffer per thread (an event loop runs in one thread) serves every connection,
    instead of *size* bytes held by each one.
    """
    views: dict[int, memoryview] | None = getattr(_receive_buffers, "views", None)
    if views is None:
        views = _receive_buffers.views = {}
    view = views.get(size)
    if view is None:
        view = views[size] = memoryview(bytearray(size))
    return view


class HandlerProtocol(asyncio.BufferedProtocol):
    """An asyncio protocol that runs one :class:`~asyncframe.Handler`.

    Received bytes land in a buffer shared by the thread's connections and go
    straight to the handler's channel (which copies them); the reply to a read is
    written before the protocol returns to the loop. Output is written at most
    *write_size* bytes at a time, and not at all while the transport has paused
    writing, so a large producer is pulled only as fast as the peer reads. Every
    decision is the core's :class:`~asyncframe.Driver`'s: this class maps its
    answers to the transport (``write``, ``pause_reading``, ``close``, ``abort``).
    It accepts any transport with asyncio's transport interface (uvloop's too).

    :ivar closed: a future resolved when the connection is gone.
    :ivar pause_count: how many times the transport asked to pause writing.
    :ivar read_pause_count: how many times reading was paused.
    """

    __slots__ = (
        "_driver",
        "_early",
        "_factory",
        "_opts",
        "_paused",
        "_reading",
        "_soon",
        "_timer",
        "_view",
        "closed",
        "handler",
        "pause_count",
        "read_pause_count",
        "transport",
        "write_size",
    )

    def __init__(
        self,
        handler: Handler,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        idle_timeout: float | None = None,
        write_size: int = 65536,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> None:
        if not isinstance(handler, Handler):
            raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
        check_sizes(write_size=write_size)
        opts = options(
            read_size=read_size,
            high_water=high_water,
            input_limit=input_limit,
            idle_timeout=idle_timeout,
            tls_handshake_timeout=tls_handshake_timeout,
        )
        self._setup(handler, None, opts, write_size)

    @classmethod
    def _deferred(cls, factory: Callable[[], object], opts: Options) -> HandlerProtocol:
        """A server's protocol, whose handler ``factory()`` makes once the connection
        is up (after the TLS handshake, if any): a peer that never completes one
        costs no handler."""
        self = cls.__new__(cls)
        self._setup(None, factory, opts, 65536)
        return self

    def _setup(
        self,
        handler: Handler | None,
        factory: Callable[[], object] | None,
        opts: Options,
        write_size: int,
    ) -> None:
        self._opts = opts
        self._factory = factory
        self.handler: Handler | None = handler
        self.write_size = write_size
        self.transport: asyncio.BaseTransport | None = None
        loop = asyncio.get_running_loop()
        self._driver: Driver | None = None
        if handler is not None:
            self._driver = opts.driver(
                handler, clock=loop.time, schedule=self._update_soon, log=logger
            )
        # While a start_tls() handshake runs: what asyncio's TLS layer delivered
        # before the handshake's awaiter resumed (None: not upgrading).
        self._early: list[bytes] | None = None
        self._view = _receive_buffer(opts.read_size)
        self._paused = False  # the transport asked to pause writing
        self._reading = True
        self._soon = False  # an _update is scheduled
        self._timer: asyncio.TimerHandle | None = None
        self.pause_count = 0
        self.read_pause_count = 0
        #: Resolved when the connection is gone.
        self.closed: asyncio.Future[None] = loop.create_future()

    def _update_soon(self) -> None:
        # Coalesced: one scheduled update, whatever asked for it in the meantime.
        if not self._soon:
            self._soon = True
            asyncio.get_running_loop().call_soon(self._scheduled_update)

    def _scheduled_update(self) -> None:
        self._soon = False
        self._update()

    def _update(self) -> None:
        """Write what may be written, then close or pause reading as the driver says."""
        transport: Any = self.transport
        driver = self._driver
        if transport is None or driver is None:
            return
        if transport.is_closing():
            # close() asked for after close_when_done(): the transport may still be
            # flushing to a peer that never reads; "now" means abort it.
            if driver.state is ABORTING:
                transport.abort()
            return
        size = self.write_size
        while not self._paused:
            data = driver.take(size)
            if not data:
                break
            transport.write(data)
            if transport.is_closing():
                return  # the write failed (the peer left): connection_lost follows
            if len(data) < size and driver.state is OPEN:
                break  # fewer bytes than asked for: nothing more is ready
        state = driver.state
        if state is ABORTING:
            transport.abort()
            return
        if state is DRAINING and not self._paused and driver.finished:
            transport.close()  # asyncio sends what it holds, then closes
            return
        reading = driver.reading
        if reading != self._reading:
            self._reading = reading
            if reading:
                transport.resume_reading()
            else:
                self.read_pause_count += 1
                transport.pause_reading()
        if state is UPGRADING and self._early is None and driver.upgrade_due:
            upgrade = driver.tls_upgrade
            assert upgrade is not None
            self._early = []
            task = asyncio.get_running_loop().create_task(self._start_tls(transport, upgrade))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)

    async def _start_tls(self, transport: Any, upgrade: TLSUpgrade) -> None:
        """Wrap *transport* in TLS (asyncio waits for its buffer to drain first)."""
        loop = asyncio.get_running_loop()
        timeout = self._opts.tls_handshake_timeout
        try:
            tls = await loop.start_tls(
                transport,
                self,
                upgrade_context(upgrade),
                server_side=upgrade.server_side,
                server_hostname=upgrade.server_hostname,
                ssl_handshake_timeout=_UNBOUNDED if timeout is None else timeout,
            )
        except (OSError, ssl_module.SSLError, asyncio.TimeoutError) as exc:
            if self._driver is not None:
                self._driver.tls_failed(exc)
            transport.abort()
            # asyncio's TLS layer never made the connection: it does not report its end.
            self.connection_lost(exc)
            return
        if self._early is None:
            return  # completed already, when the peer's close_notify came first
        if self._driver is None or tls is None:
            self._early = None
            if tls is not None:
                tls.abort()
            return
        self._upgraded(tls)
        self._update()

    def _upgraded(self, tls: Any) -> None:
        """The handshake completed: go on over *tls*, with what it delivered already."""
        early, self._early = self._early or [], None
        driver = self._driver
        assert driver is not None
        self.transport = tls
        self._reading = True  # a new transport reads
        driver.tls_started(tls.get_extra_info("ssl_object"))
        for data in early:
            if self._driver is not None:
                self._driver.receive(data)

    def _idle(self) -> None:
        self._timer = None
        driver = self._driver
        if driver is None:
            return
        loop = asyncio.get_running_loop()
        delay = driver.idle_check(loop.time())
        if delay is None:
            self._update()
        else:
            self._timer = loop.call_later(delay, self._idle)

    # -- asyncio protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handler on the new connection (a server's: make it first)."""
        self.transport = transport
        if self._factory is not None:
            handler = start_handler(self._factory, logger)
            self._factory = None
            if handler is None:
                transport.abort()  # type: ignore[attr-defined]
                return
            self.handler = handler
            self._driver = self._opts.driver(
                handler,
                clock=asyncio.get_running_loop().time,
                schedule=self._update_soon,
                log=logger,
            )
        driver = self._driver
        assert driver is not None
        if driver.idle_timeout is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(driver.idle_timeout, self._idle)
        driver.start(transport.get_extra_info("peername"))
        self._update()

    def get_buffer(self, sizehint: int) -> memoryview:
        """Hand asyncio the receive buffer (one per thread, shared by its protocols)."""
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        """Feed the received bytes to the handler, then write its reply at once."""
        driver = self._driver
        assert driver is not None
        if self._early is not None:  # over TLS already; the handshake's awaiter comes next
            self._early.append(bytes(self._view[:nbytes]))
            return
        driver.receive(self._view[:nbytes])
        if driver.state is OPEN and not self._paused:
            # The common case, with no call it can avoid: one request, its reply.
            data = driver.take(self.write_size)
            if len(data) < self.write_size and driver.state is OPEN:
                if data:
                    self.transport.write(data)  # type: ignore[union-attr]
                return
            if data:
                self.transport.write(data)  # type: ignore[union-attr]
        self._update()

    def eof_received(self) -> bool:
        """The peer closed its side: finish the handler's input and send its last output."""
        driver = self._driver
        transport: Any = self.transport
        assert driver is not None
        if self._early is not None:
            # The peer's close_notify came with the end of the handshake, before the
            # awaiter of start_tls resumed: asyncio shuts the connection down as this
            # returns, so the upgrade completes here and the last replies go now.
            # The TLS transport is only reachable through asyncio's TLS protocol.
            app_transport = getattr(self.transport.get_protocol(), "_get_app_transport", None)  # type: ignore[union-attr]
            if app_transport is None:
                return False
            self._upgraded(app_transport())
            transport = self.transport
        driver.receive(b"")
        if transport.get_extra_info("sslcontext") is not None:
            # TLS has no half-close here: asyncio (and uvloop) close the connection
            # as soon as this returns, after sending what they were given, with no
            # flow control meanwhile. So it is given every byte queued now, and up
            # to high_water more from producers (not a whole feed, into memory).
            if driver.state is not ABORTING:
                cap = driver.buffered_output + self._opts.high_water
                while cap > 0 and (data := driver.take(min(self.write_size, cap))):
                    transport.write(data)
                    cap -= len(data)
            return False
        self._update()
        return True  # keep the transport: _update() closes it once the output is out

    def pause_writing(self) -> None:
        """The transport's buffer is full: stop pulling output."""
        self._paused = True
        self.pause_count += 1

    def resume_writing(self) -> None:
        """The transport drained: write again (soon: not from inside the transport's
        own write path, which may go on after this returns)."""
        self._paused = False
        self._update_soon()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone (closed, reset or aborted): tell the handler, once."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            # Python 3.10's TLS transport is not marked closed when the peer ends the
            # connection, and warns when collected; closing it now only marks it closed.
            transport.close()
        # Let go of the transport: asyncio's TLS protocol keeps bound methods of this
        # protocol after the connection is lost, so holding the transport (which
        # holds that protocol) would be a cycle, freed only by the cyclic collector.
        self.transport = None
        if exc is not None:
            logger.debug("connection lost: %r", exc)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        driver, self._driver = self._driver, None
        if driver is not None:
            if exc is None and driver.reading and self._early is None:
                # Ended cleanly while still reading, with no EOF reported: uvloop's TLS
                # transport meets a ragged EOF (TCP closed without a close_notify)
                # that way, closing with no eof_received. It is the peer's EOF all
                # the same; on_eof runs, though what it pushes can no longer be sent.
                driver.receive(b"")
            driver.lost()
        if not self.closed.done():
            self.closed.set_result(None)


#: The handshake timeout given to asyncio for ``tls_handshake_timeout=None``.
_UNBOUNDED = 365 * 86400.0


class _Acceptor:
    """Accepts connections on one listening socket for :func:`serve`, backing off
    (instead of spinning) when the process is out of descriptors."""

    __slots__ = ("backoff", "factory", "loop", "opts", "sock", "ssl")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], HandlerProtocol],
        ssl: ssl_module.SSLContext | None,
        opts: Options,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.factory = factory
        self.ssl = ssl
        self.opts = opts
        self.backoff = AcceptBackoff(logger)

    def start(self) -> None:
        if self.sock.fileno() >= 0:  # server.close() closes the socket
            self.loop.add_reader(self.sock.fileno(), self.accept)

    def accept(self) -> None:
        for _ in range(100):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                delay = self.backoff.failed(exc)
                if delay is None:
                    continue
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(delay, self.start)
                return
            self.backoff.succeeded()
            conn.setblocking(False)
            # asyncio disables Nagle only for sockets it made with IPPROTO_TCP; an
            # accepted socket of socket.create_server() has proto 0, so do it here:
            # otherwise a reply's last segment can wait for a delayed ACK (40 ms).
            nodelay(conn)
            task = self.loop.create_task(self._connect(conn))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        timeout = self.opts.tls_handshake_timeout
        tls: dict[str, Any] = {}
        if self.ssl is not None:
            tls = {
                "ssl": self.ssl,
                "ssl_handshake_timeout": _UNBOUNDED if timeout is None else timeout,
            }
        try:
            await self.loop.connect_accepted_socket(self.factory, conn, **tls)
        except (OSError, ssl_module.SSLError, asyncio.TimeoutError) as exc:
            logger.debug("connection failed to start: %r", exc)
            conn.close()


# Connection set-up tasks in flight (the loop keeps only weak references to tasks).
_tasks: set[asyncio.Task[None]] = set()


async def serve(
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
) -> asyncio.Server:
    """Start a server that runs ``handler_factory()`` for each connection.

    Returns the :class:`asyncio.Server`, already accepting (``server.sockets[0]
    .getsockname()`` gives the bound address; port 0 lets the system choose);
    ``server.close()`` stops it. *host* is an IPv4 or IPv6 address or a name (its
    first address), ``None`` for every interface. Instead of *host* and *port*:
    *path*, a Unix domain socket to listen on (a stale socket file there is
    removed first; its permissions are the caller's), or *sock*, a listening
    socket you already have (inherited, pre-bound, from systemd's socket
    activation), which the server then owns. *reuse_port* sets ``SO_REUSEPORT``
    on the TCP socket, so that several processes serve one port. The options are
    the same on every adapter: *read_size* bytes are read at once; above
    *high_water* bytes of queued output a connection's handler gets no more input
    (reading goes on, up to *input_limit* bytes, so that a pipeline written before
    its replies are read completes; past that the connection is closed);
    *idle_timeout* closes a connection after that many seconds without a received
    byte; *backlog* is the listen queue; *ssl* an :class:`ssl.SSLContext` for TLS,
    whose handshake must complete within *tls_handshake_timeout* seconds
    (``None``: unbounded), before ``handler_factory()`` is called; the same bound
    applies to a :meth:`~asyncframe.Handler.start_tls` upgrade. (asyncio's TLS layer holds
    its own buffers, a few hundred KiB per pending handshake: the timeout is what
    bounds them.) Out of file descriptors, the server pauses accepting 100 ms at
    a time (logged once per burst) rather than spin; it accepts through its own
    loop, so ``server.serve_forever()`` is not needed (it would hand accepting
    back to asyncio's, which does not back off).
    """
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
    ssl = server_tls(ssl)
    loop = asyncio.get_running_loop()

    def factory() -> HandlerProtocol:
        return HandlerProtocol._deferred(handler_factory, opts)

    listening = server_socket(host, port, opts.backlog, path=path, sock=sock, reuse_port=reuse_port)
    try:
        server = await loop.create_server(
            factory, sock=listening, ssl=ssl, backlog=opts.backlog, start_serving=False
        )
    except BaseException:
        listening.close()
        raise
    _Acceptor(loop, listening, factory, ssl, opts).start()
    return server


async def connect(
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
    ssl: ssl_module.SSLContext | None = None,
    tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    **kwargs: Any,
) -> Handler:
    """Connect to *host*:*port* (or the Unix domain socket *path*, or over *sock*,
    a connected socket), start *handler* on the connection and return it.

    Returns once connected (with *ssl*, once the handshake completed, within
    *tls_handshake_timeout* seconds); ``handler.on_close()`` is called when the
    connection ends. The options are :func:`serve`'s; other keyword arguments,
    such as ``server_hostname=``, go to :meth:`asyncio.loop.create_connection`.
    """
    if not isinstance(handler, Handler):
        raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
    opts = options(
        read_size=read_size,
        high_water=high_water,
        input_limit=input_limit,
        idle_timeout=idle_timeout,
        tls_handshake_timeout=tls_handshake_timeout,
    )
    target = connected_socket(host, port, path, sock)
    loop = asyncio.get_running_loop()
    if ssl is not None:
        timeout = opts.tls_handshake_timeout
        kwargs["ssl_handshake_timeout"] = _UNBOUNDED if timeout is None else timeout

    def protocol() -> HandlerProtocol:
        return HandlerProtocol(
            handler,
            read_size=opts.read_size,
            high_water=opts.high_water,
            input_limit=opts.input_limit,
            idle_timeout=opts.idle_timeout,
            tls_handshake_timeout=opts.tls_handshake_timeout,
        )

    if path is not None:
        await loop.create_unix_connection(protocol, target, ssl=ssl, **kwargs)
    elif sock is not None:
        target.setblocking(False)
        await loop.create_connection(protocol, sock=target, ssl=ssl, **kwargs)
    else:
        assert host is not None
        assert port is not None
        await loop.create_connection(protocol, host, port, ssl=ssl, **kwargs)
    return handler


class FramedStream(BaseFramedStream):
    """Whole frames and framed events over an asyncio stream pair.

    Everything but the transport is :class:`~asyncframe.adapters._stream.BaseFramedStream`'s
    (the reading calls, :exc:`~asyncframe.FrameTooLong`, the end of the stream).
    :meth:`~asyncframe.adapters._stream.BaseFramedStream.connect` opens the pair with
    :func:`asyncio.open_connection`; a server wraps the pair
    :func:`asyncio.start_server` hands it.

    :param reader: the :class:`asyncio.StreamReader` to read from.
    :param writer: the :class:`asyncio.StreamWriter` to write to.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        terminator: TerminatorSpec = b"\r\n",
        *,
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
        read_size: int = 65536,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        max_record_size: int | None = DEFAULT_MAX_RECORD_SIZE,
    ) -> None:
        if not isinstance(reader, asyncio.StreamReader):
            raise TypeError(f"reader must be an asyncio.StreamReader, not {type(reader).__name__}")
        if not isinstance(writer, asyncio.StreamWriter):
            raise TypeError(f"writer must be an asyncio.StreamWriter, not {type(writer).__name__}")
        super().__init__(
            terminator,
            max_frame_size=max_frame_size,
            read_size=read_size,
            input_limit=input_limit,
            max_record_size=max_record_size,
        )
        self.reader = reader
        self.writer = writer

    @classmethod
    async def _open(
        cls,
        host: str,
        port: int,
        context: ssl_module.SSLContext | None,
        server_hostname: str | None,
        options: dict[str, Any],
        framing: dict[str, Any],
    ) -> FramedStream:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=server_hostname, **options
        )
        return cls(reader, writer, **framing)

    async def _start_tls(
        self,
        context: ssl_module.SSLContext,
        server_side: bool,
        server_hostname: str | None,
        timeout: float | None,
    ) -> None:
        # asyncio's own upgrade of a stream pair (Python 3.11+); it takes the side
        # from how the pair was made (asyncio.start_server's: the server's).
        start_tls = getattr(self.writer, "start_tls", None)
        if start_tls is None:
            raise NotImplementedError("FramedStream.start_tls() on asyncio needs Python 3.11+")
        await start_tls(
            context,
            server_hostname=server_hostname,
            ssl_handshake_timeout=_UNBOUNDED if timeout is None else timeout,
        )

    async def _receive_some(self, max_bytes: int) -> bytes | bytearray:
        try:
            return await self.reader.read(max_bytes)
        except OSError as exc:  # a reset, or TLS broken mid-stream: the end of the stream
            logger.debug("read failed, treated as EOF: %r", exc)
            return b""

    async def _send_all(self, data: bytes) -> None:
        writer = self.writer
        writer.write(data)
        if not writer.transport.get_write_buffer_size() or not self._read_meanwhile:
            # All of it went to the socket at once, or another task reads.
            await writer.drain()
            return
        # Wait for the transport to drain while reading what arrives meanwhile (a
        # cancelled read loses nothing: the bytes stay in the reader).
        drain = asyncio.ensure_future(writer.drain())
        try:
            while not drain.done():
                read = asyncio.ensure_future(self._receive_some(self._read_size))
                await asyncio.wait((drain, read), return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    read.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await read
                elif not read.cancelled():
                    data_in = read.result()
                    try:
                        self._received(data_in)
                    except ProtocolError:
                        # Past input_limit: the send was cut short, so the connection
                        # is unusable; closing would wait to flush to a peer that
                        # does not read.
                        writer.transport.abort()
                        raise
                    if not data_in:
                        break  # the peer closed: the drain ends with the connection
            await drain
        finally:
            if not drain.done():
                drain.cancel()

    async def aclose(self) -> None:
        """Close the connection and wait until it is closed."""
        self._closing()
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError as exc:
            logger.debug("close: %r", exc)
