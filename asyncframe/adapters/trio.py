"""trio adapters: framed streams, and Handlers run with trio's structured concurrency.

- :class:`FramedStream` wraps any :class:`trio.abc.Stream` (a ``SocketStream``, an
  ``SSLStream``, a memory stream) for ``async for event in stream`` code.
- :func:`serve` runs a :class:`~asyncframe.Handler` per connection, with
  :func:`trio.serve_tcp`'s conventions (``await nursery.start(serve, factory, 0)``);
  :func:`connect` and :func:`run_handler` run one on a connection you open.

Output is sent with ``send_all``, one piece at a time, so a producer is pulled only
as fast as the peer reads. A handler upgrades with
:meth:`~asyncframe.Handler.start_tls` (a :class:`trio.SSLStream` over the
connection's stream), a stream with ``FramedStream.start_tls()``; every TLS
handshake is bounded by ``tls_handshake_timeout``. ``serve(factory, path=...)``
and ``connect(handler, path=...)`` use a Unix domain socket, ``sock=`` a socket
you already have, and ``reuse_port=True`` lets several processes serve one port.
Peer faults end the connection with ``on_close()``; an exception raised by a
handler is logged and closes its connection only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from typing import Any

try:
    import trio
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "asyncframe.adapters.trio needs trio, an optional dependency: "
        'pip install "asyncframe[trio]"'
    ) from exc

from asyncframe import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_RECORD_SIZE,
    AcceptBackoff,
    Handler,
    ProtocolError,
    TerminatorSpec,
)
from asyncframe._driver import (
    ABORTING,
    CLOSED,
    DRAINING,
    OPEN,
    READING,
    UPGRADING,
    Options,
    start_handler,
)
from asyncframe.adapters._checks import (
    DEFAULT_BACKLOG,
    DEFAULT_HIGH_WATER,
    DEFAULT_INPUT_LIMIT,
    DEFAULT_READ_SIZE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    check_port,
    connected_socket,
    options,
    server_socket,
    server_tls,
    upgrade_context,
)
from asyncframe.adapters._faults import drop_tracebacks
from asyncframe.adapters._stream import BaseFramedStream

__all__ = ["FramedStream", "connect", "run_handler", "serve"]

logger = logging.getLogger("asyncframe.adapters.trio")

_PEER_FAULTS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class FramedStream(BaseFramedStream):
    """Whole frames and framed events over any :class:`trio.abc.Stream`.

    Everything but the transport is :class:`~asyncframe.adapters._stream.BaseFramedStream`'s
    (the reading calls, :exc:`~asyncframe.FrameTooLong`, the end of the stream).
    It wraps a ``SocketStream``, an :class:`trio.SSLStream`, a memory stream, or
    the stream :func:`trio.serve_tcp` hands a handler;
    :meth:`~asyncframe.adapters._stream.BaseFramedStream.connect` opens one with
    :func:`trio.open_tcp_stream`. A ``trio.BrokenResourceError`` while receiving
    ends the stream like a close; ``send()`` raises it, as trio's streams do.

    :param stream: the stream to read from and write to.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        terminator: TerminatorSpec = b"\r\n",
        *,
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
        read_size: int = 65536,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        max_record_size: int | None = DEFAULT_MAX_RECORD_SIZE,
    ) -> None:
        if not isinstance(stream, trio.abc.Stream):
            raise TypeError(f"stream must be a trio.abc.Stream, not {type(stream).__name__}")
        super().__init__(
            terminator,
            max_frame_size=max_frame_size,
            read_size=read_size,
            input_limit=input_limit,
            max_record_size=max_record_size,
        )
        #: The wrapped stream.
        self.stream = stream

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
        stream: trio.abc.Stream = await trio.open_tcp_stream(host, port, **options)
        if context is not None:
            tls = trio.SSLStream(stream, context, server_hostname=server_hostname)
            try:
                await tls.do_handshake()  # a bad certificate fails here, not as an EOF later
            except BaseException:
                await trio.aclose_forcefully(tls)
                raise
            stream = tls
        return cls(stream, **framing)

    async def _start_tls(
        self,
        context: ssl_module.SSLContext,
        server_side: bool,
        server_hostname: str | None,
        timeout: float | None,
    ) -> None:
        tls = trio.SSLStream(
            self.stream, context, server_side=server_side, server_hostname=server_hostname
        )
        with trio.move_on_after(math.inf if timeout is None else timeout) as bound:
            await tls.do_handshake()
        if bound.cancelled_caught:
            await trio.aclose_forcefully(tls)
            raise TimeoutError(f"the TLS handshake took over {timeout} s")
        self.stream = tls

    async def _receive_some(self, max_bytes: int) -> bytes | bytearray:
        try:
            return await self.stream.receive_some(max_bytes)
        except trio.BrokenResourceError as exc:
            logger.debug("receive failed, treated as EOF: %r", exc)
            return b""

    async def _send_all(self, data: bytes) -> None:
        # Send while reading what arrives meanwhile, so a peer that waits for us to
        # read before it reads never stalls the send (trio's receive_some loses
        # nothing when cancelled); unless another task reads already.
        if not self._read_meanwhile:
            await self.stream.send_all(data)
            return
        failed: list[ProtocolError] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_while_sending, failed, nursery.cancel_scope)
            await self.stream.send_all(data)
            nursery.cancel_scope.cancel()
        if failed:
            # Past input_limit: the send was cut short, so the connection is unusable.
            await trio.aclose_forcefully(self.stream)
            raise failed[0]  # itself, not wrapped in the nursery's ExceptionGroup

    async def _read_while_sending(
        self, failed: list[ProtocolError], sending: trio.CancelScope
    ) -> None:
        while True:
            data = await self._receive_some(self._read_size)
            try:
                self._received(data)
            except ProtocolError as exc:
                failed.append(exc)
                sending.cancel()
                return
            if not data:
                return

    async def aclose(self) -> None:
        """Close the underlying stream."""
        self._closing()
        await self.stream.aclose()


class _Runner:
    """Runs one Handler on one stream through the core's driver.

    Receiving and sending run concurrently, so a peer that writes a whole pipeline
    before it reads its replies never waits on a send: the connection's own task
    reads and hands each read to the driver; output the socket cannot take at once
    is sent by a writer task, started in *spare* (the server's nursery) when no
    writer runs, and gone once the output is out. An idle connection so costs one
    task and one cancel scope.

    On a plain TCP stream the reply to a read is first offered to the socket at
    once, without waiting (through a socket object on the stream's descriptor,
    detached at the end, never closed by it): a request and its reply cost no task
    switch, and only what the socket refuses goes to the writer.
    """

    __slots__ = (
        "driver",
        "flushed",
        "raw",
        "read_size",
        "scope",
        "sending",
        "spare",
        "stream",
    )

    def __init__(
        self, handler: Handler, stream: trio.abc.Stream, opts: Options, spare: trio.Nursery
    ) -> None:
        self.stream = stream
        self.read_size = opts.read_size
        self.spare = spare
        self.driver = opts.driver(
            handler, clock=trio.current_time, schedule=self._woken, log=logger
        )
        self.scope: trio.CancelScope | None = None
        # Set once the output before a start_tls() is sent: the handshake may begin.
        self.flushed: trio.Event | None = None
        self.sending = False  # a writer task is running
        # The stream's socket, for sends that must not wait (plain TCP only).
        self.raw: socket.socket | None = None
        if type(stream) is trio.SocketStream:
            self.raw = socket.socket(fileno=stream.socket.fileno())

    def _woken(self) -> None:
        # Output or a close asked for from another task: act on it now.
        self.driver.woke()
        self._act()

    def _act(self) -> None:
        """Do what the driver's state asks: start the writer, or end the connection."""
        driver = self.driver
        state = driver.state
        if state is ABORTING or state is CLOSED:
            self._end()
        elif not self.sending:
            if driver.has_output() and (self.raw is None or not self._send_now()):
                self.sending = True
                self.spare.start_soon(self._writer)
            elif driver.state is DRAINING and not driver.has_output():
                self._end()
            elif driver.upgrade_due and self.flushed is not None:
                self.flushed.set()

    def _send_now(self) -> bool:
        """Send what the socket takes without waiting; True if no output is left."""
        driver = self.driver
        raw = self.raw
        assert raw is not None
        size = self.read_size
        while True:
            data = driver.peek(size)
            if not data:
                return True
            try:
                sent = raw.send(data)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                logger.debug("send failed: %r", exc)
                self._end()
                return True
            driver.consume(sent)
            if sent < len(data):
                return False
            if sent < size and driver.state is OPEN:
                return True  # fewer bytes than asked for: nothing more is ready

    def _end(self) -> None:
        if self.scope is not None:
            self.scope.cancel()

    async def _writer(self) -> None:
        """Send the output until none is left (dispatching held input as it drains)."""
        driver = self.driver
        send_all = self.stream.send_all
        size = self.read_size
        try:
            while True:
                data = driver.take(size)
                if not data:
                    break
                try:
                    await send_all(data)
                except _PEER_FAULTS as exc:
                    logger.debug("send failed: %r", exc)
                    drop_tracebacks(exc)
                    self._end()
                    return
        finally:
            self.sending = False
        self._act()

    async def _upgrade(self) -> bool:
        """Start the TLS a ``start_tls()`` asked for, once the output before it is
        sent; True once the handshake completed."""
        driver = self.driver
        upgrade = driver.tls_upgrade
        assert upgrade is not None
        self.flushed = trio.Event()
        self._act()
        await self.flushed.wait()
        self.flushed = None
        if driver.state is not UPGRADING:
            return False
        if self.raw is not None:  # sends go through TLS from now on
            self.raw.detach()
            self.raw = None
        tls = trio.SSLStream(
            self.stream,
            upgrade_context(upgrade),
            server_side=upgrade.server_side,
            server_hostname=upgrade.server_hostname,
        )
        self.stream = tls
        timeout = driver.tls_handshake_timeout
        scope = self.scope
        assert scope is not None
        scope.deadline = math.inf  # idle_timeout does not apply to the handshake
        with trio.move_on_after(math.inf if timeout is None else timeout):
            try:
                await tls.do_handshake()
            except _PEER_FAULTS as exc:
                drop_tracebacks(exc)
                driver.tls_failed(exc)
                return False
            if upgrade.server_side:
                _ack_now(tls)
            driver.tls_started(tls)
            if driver.idle_timeout is not None:
                scope.deadline = driver.idle_deadline  # type: ignore[assignment]
            self._act()
            return True
        driver.tls_failed(TimeoutError("tls_handshake_timeout"))
        return False

    async def _reader(self) -> None:
        driver = self.driver
        scope = self.scope
        assert scope is not None
        size = self.read_size
        # One frame for the whole read loop (an idle connection waits in it): an
        # upgrade to TLS goes round the outer loop with the new stream.
        while True:
            receive_some = self.stream.receive_some
            while driver.state in READING:
                try:
                    data = await receive_some(size)
                except trio.BrokenResourceError as exc:
                    drop_tracebacks(exc)
                    if not isinstance(exc.__cause__, ssl_module.SSLEOFError):
                        logger.debug("receive failed: %r", exc)
                        return
                    data = b""  # a ragged EOF under TLS (no close_notify): an EOF
                except _PEER_FAULTS as exc:
                    logger.debug("receive failed: %r", exc)
                    drop_tracebacks(exc)
                    return
                driver.receive(data)
                if driver.idle_timeout is not None:
                    scope.deadline = driver.idle_deadline  # type: ignore[assignment]
                self._act()
            if driver.state is not UPGRADING:
                break
            if not await self._upgrade():
                return  # the handshake failed: the connection ends
        # Not reading any more: the writer (or _act) ends the connection.
        await trio.sleep_forever()

    async def run(self, peername: Any) -> None:
        driver = self.driver
        try:
            with trio.CancelScope() as scope:
                self.scope = scope
                if driver.idle_timeout is not None:
                    scope.deadline = trio.current_time() + driver.idle_timeout
                driver.start(peername)
                self._act()
                await self._reader()
            if scope.cancelled_caught:
                driver.idle_check(trio.current_time())
        finally:
            self.scope = None
            if self.raw is not None:
                self.raw.detach()  # the descriptor is the stream's to close
                self.raw = None
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self.stream)
            driver.lost()


def _ack_now(stream: trio.SSLStream[Any]) -> None:
    """Acknowledge the client's last handshake segment at once (Linux).

    Over TLS 1.3 trio holds a server's session tickets back until it first sends,
    so nothing answers the client's Finished: a client with Nagle's algorithm on
    (no ``TCP_NODELAY``) then holds its first request until that segment is
    acknowledged, 40 ms later with delayed ACKs. The other adapters send the
    tickets at once, which acknowledges it.
    """
    quickack = getattr(socket, "TCP_QUICKACK", None)
    sock = getattr(stream.transport_stream, "socket", None)
    if quickack is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def _peername(stream: trio.abc.Stream) -> Any:
    """The peer's address of a socket stream, also under TLS (``None`` for others)."""
    layer: Any = stream
    while layer is not None:
        sock = getattr(layer, "socket", None)
        if sock is not None:
            try:
                return sock.getpeername()
            except OSError:
                return None
        layer = getattr(layer, "transport_stream", None)
    return None


async def run_handler(
    handler: Handler,
    stream: trio.abc.Stream,
    *,
    read_size: int = DEFAULT_READ_SIZE,
    high_water: int = DEFAULT_HIGH_WATER,
    input_limit: int = DEFAULT_INPUT_LIMIT,
    idle_timeout: float | None = None,
    tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
) -> None:
    """Run *handler* on *stream* until the connection ends, then close the stream.

    ``handler.on_close()`` is called exactly once, whatever ends the connection
    (the peer, the handler, an error, the idle timeout or a cancellation).
    *read_size* is the most bytes received or sent at once; while more than
    *high_water* bytes of output wait to be sent, the handler gets no more input
    (reading goes on, up to *input_limit* bytes, so that a pipeline written before
    its replies are read completes; past that the connection is closed);
    *idle_timeout* ends the connection after that many seconds without a received
    byte; a TLS handshake (a :meth:`~asyncframe.Handler.start_tls` upgrade) not done within
    *tls_handshake_timeout* seconds ends it too.
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
    await _run(handler, stream, opts)


async def _run(handler: Handler, stream: trio.abc.Stream, opts: Options) -> None:
    """Run one connection, with a nursery of its own for its writer tasks."""
    async with trio.open_nursery() as spare:
        await _Runner(handler, stream, opts, spare).run(_peername(stream))


async def serve(
    handler_factory: Callable[[], Handler],
    port: int | None = None,
    *,
    host: str | bytes | None = None,
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
    handler_nursery: trio.Nursery | None = None,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler_factory()`` on each TCP connection (over TLS with *ssl*).

    Conventions of :func:`trio.serve_tcp`: run it with
    ``listeners = await nursery.start(serve, factory, 0)`` to learn the bound
    address; cancel the nursery to stop serving and close every connection. The
    options are the same on every adapter (see :func:`run_handler`; *backlog* is
    the listen queue). Instead of *port* (and *host*): *path*, a Unix domain
    socket to listen on (a stale socket file there is removed first; its
    permissions are the caller's), or *sock*, a listening socket you already have
    (inherited, pre-bound, from systemd's socket activation), which the server
    then owns. *reuse_port* sets ``SO_REUSEPORT`` on the TCP socket, so that
    several processes serve one port. With *ssl*, ``handler_factory()`` is called
    once the handshake completed, within *tls_handshake_timeout* seconds (a
    slower one closes its connection).
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
    plain_tcp = path is None and sock is None and not reuse_port
    made = None
    if not plain_tcp:
        if isinstance(host, bytes):
            host = host.decode()
        made = server_socket(host, port, opts.backlog, path=path, sock=sock, reuse_port=reuse_port)
    elif port is None:
        raise TypeError("a port is needed (0: the system picks one), or path= or sock=")
    else:
        check_port(port)

    async def handle(stream: trio.abc.Stream) -> None:
        if isinstance(stream, trio.SSLStream) and not await _handshake(stream, opts):
            return
        handler = start_handler(handler_factory, logger)
        if handler is None:
            await trio.aclose_forcefully(stream)
            return
        await _Runner(handler, stream, opts, spare).run(_peername(stream))

    # One nursery for the short-lived writer tasks of every connection.
    async with trio.open_nursery() as spare:
        listeners: list[trio.abc.Listener[Any]]
        if made is not None:
            listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(made))]
            if ssl is not None:
                listeners = [trio.SSLListener(listeners[0], ssl)]
        elif ssl is None:
            assert port is not None
            listeners = list(await trio.open_tcp_listeners(port, host=host, backlog=opts.backlog))
        else:
            assert port is not None
            listeners = list(
                await trio.open_ssl_over_tcp_listeners(port, ssl, host=host, backlog=opts.backlog)
            )
        await _serve_listeners(handle, listeners, handler_nursery, task_status)


async def _handshake(stream: trio.SSLStream[Any], opts: Options) -> bool:
    """Complete a server's TLS handshake before its handler is made (bounded by
    ``tls_handshake_timeout``); False, with the stream closed, if it failed."""
    timeout = opts.tls_handshake_timeout
    with trio.move_on_after(math.inf if timeout is None else timeout):
        try:
            await stream.do_handshake()
        except _PEER_FAULTS as exc:
            logger.debug("TLS handshake failed: %r", exc)
            drop_tracebacks(exc)
        else:
            _ack_now(stream)
            return True
    await trio.aclose_forcefully(stream)
    return False


async def _serve_listeners(
    handle: Callable[[Any], Awaitable[None]],
    listeners: list[trio.abc.Listener[Any]],
    handler_nursery: trio.Nursery | None,
    task_status: trio.TaskStatus[Any],
) -> None:
    """:func:`trio.serve_listeners`, with the core's accept policy: out of descriptors,
    a listener pauses and the burst is logged once (trio logs every attempt)."""
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_accept_loop, listener, handle, handler_nursery or nursery)
        task_status.started(listeners)


async def _accept_loop(
    listener: trio.abc.Listener[Any],
    handle: Callable[[Any], Awaitable[None]],
    nursery: trio.Nursery,
) -> None:
    backoff = AcceptBackoff(logger)
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                delay = backoff.failed(exc)
                if delay is not None:
                    await trio.sleep(delay)  # the connections wait in the backlog
                continue
            backoff.succeeded()
            nursery.start_soon(handle, stream)


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
    server_hostname: str | None = None,
    tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    task_status: trio.TaskStatus[Handler] = trio.TASK_STATUS_IGNORED,
) -> Handler:
    """Connect to *host*:*port* (or the Unix domain socket *path*, or over *sock*,
    a connected socket; over TLS with *ssl*) and run *handler* until the
    connection ends; return the handler.

    ``await nursery.start(connect, handler, host, port)`` returns once connected
    (with *ssl*, once the handshake completed within *tls_handshake_timeout*
    seconds; the certificate must match *server_hostname*, default *host*) and
    leaves the connection running in the nursery.
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
    stream: trio.abc.Stream
    if path is not None:
        stream = await trio.open_unix_socket(target)
    elif sock is not None:
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(target))
    else:
        assert host is not None
        assert port is not None
        stream = await trio.open_tcp_stream(host, port)
    if ssl is not None:
        tls = trio.SSLStream(stream, ssl, server_hostname=server_hostname or host)
        timeout = opts.tls_handshake_timeout
        with trio.move_on_after(math.inf if timeout is None else timeout) as bound:
            try:
                await tls.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(tls)
                raise
        if bound.cancelled_caught:
            await trio.aclose_forcefully(tls)
            raise TimeoutError(f"the TLS handshake took over {timeout} s")
        stream = tls
    task_status.started(handler)
    await _run(handler, stream, opts)
    return handler
