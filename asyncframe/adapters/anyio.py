"""anyio adapters: Handlers and framed streams on anyio, under asyncio or trio alike.

anyio runs the same code on either event loop, so this one adapter serves both:

- :func:`serve` runs a :class:`~asyncframe.Handler` per connection, with anyio's
  conventions: ``listeners = await task_group.start(serve, factory, "127.0.0.1", 0)``
  returns once it listens (with a list of :class:`anyio.abc.SocketListener`, whose
  ``extra(SocketAttribute.local_address)`` is the bound address); cancel the task
  group to stop serving and close every connection;
- :func:`connect` opens a connection and runs a handler on it; :func:`run_handler`
  runs one on any :class:`anyio.abc.ByteStream` you opened yourself (a socket
  stream, an :class:`anyio.streams.tls.TLSStream`, a stapled memory stream);
- :class:`FramedStream` wraps any :class:`anyio.abc.ByteStream` for
  ``async for event in stream`` code.

Each connection reads and sends at once, in two tasks: the reader hands every read
to the connection engine (:class:`asyncframe.Driver`), which runs the handler's
callbacks; the writer sends the output one piece of at most *read_size* bytes at a
time, so a producer is pulled only as fast as the peer reads, and a peer that
writes a whole pipeline before it reads a reply is still read meanwhile.

TLS: ``ssl=`` serves (or connects) over TLS from the start, the handshake bounded
by ``tls_handshake_timeout`` and done before the handler is made; a handler
upgrades with :meth:`~asyncframe.Handler.start_tls` (STARTTLS), through
:meth:`anyio.streams.tls.TLSStream.wrap`, within the same bound.
``serve(factory, path=...)`` and ``connect(handler, path=...)`` use a Unix domain
socket, ``sock=`` a socket you already have, and ``reuse_port=True`` lets several
processes serve one port. Peer faults end the connection with ``on_close()``; an
exception raised by a handler is logged and closes its connection only.

>>> import anyio
>>> from asyncframe import Handler
>>> from asyncframe.adapters.anyio import connect, serve
>>> class Upper(Handler):
...     def on_frame(self, frame):
...         self.push(frame.upper() + b"\\r\\n")
>>> class Ask(Handler):
...     def on_connect(self):
...         self.push(b"hello\\r\\n")
...     def on_frame(self, frame):
...         self.answer = frame
...         self.close()
>>> async def main():
...     async with anyio.create_task_group() as tg:
...         listeners = await tg.start(serve, Upper, "127.0.0.1", 0)
...         host, port = listeners[0].extra(anyio.abc.SocketAttribute.local_address)
...         client = await connect(Ask(), host, port)
...         tg.cancel_scope.cancel()
...     return client.answer
>>> anyio.run(main)
b'HELLO'
"""

from __future__ import annotations

import logging
import math
import os
import socket
import ssl as ssl_module
from collections.abc import Callable, Mapping
from typing import Any

try:
    import anyio
    import anyio.abc
    from anyio.streams.tls import TLSAttribute, TLSStream
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "asyncframe.adapters.anyio needs anyio, an optional dependency: "
        'pip install "asyncframe[anyio]"'
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

logger = logging.getLogger("asyncframe.adapters.anyio")

# What a broken or closed connection raises from anyio's streams (a reset is an
# OSError under some backends, BrokenResourceError under others; a TLS stream raises
# ssl.SSLError, an OSError, for a bad record).
_PEER_FAULTS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


def _cancelled(exc: BaseException) -> None:
    """Drop the traceback of the cancellation *exc* before it propagates on."""
    # Under the trio backend, anyio's socket streams re-raise a cancellation from a
    # helper that holds it as an argument, so its traceback holds that frame, which
    # holds the exception: a cycle, which also keeps the frames of the task it went
    # through (the connection's runner, its driver and handler) until the cyclic
    # collector runs. A cancellation's traceback tells nothing worth that.
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        drop_tracebacks(exc)


def _ragged_eof(exc: BaseException) -> bool:
    """True if *exc* is anyio's report of a TLS peer that closed TCP without a
    close_notify: an EOF, as the other adapters take it."""
    return isinstance(exc, anyio.BrokenResourceError) and isinstance(
        exc.__cause__, ssl_module.SSLEOFError
    )


class _OneSender(anyio.abc.ByteStream):
    """The transport under a TLS stream this adapter makes, its sends taken in turn.

    :class:`~anyio.streams.tls.TLSStream` sends from inside ``receive()`` too (what
    a read makes OpenSSL answer: a key update, say), and here a reader and a
    writer task use it at once: anyio's socket streams refuse a second concurrent
    send (:exc:`anyio.BusyResourceError`), so sends wait for each other, in order.
    """

    def __init__(self, transport: anyio.abc.ByteStream) -> None:
        self.transport = transport
        self._lock = anyio.Lock()

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.transport.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        async with self._lock:
            await self.transport.send(item)

    async def send_eof(self) -> None:
        await self.transport.send_eof()

    async def aclose(self) -> None:
        await self.transport.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self.transport.extra_attributes


async def _wrap_tls(
    stream: anyio.abc.ByteStream,
    context: ssl_module.SSLContext,
    *,
    server_side: bool,
    hostname: str | None,
    timeout: float | None,
) -> TLSStream:
    """Wrap *stream* in TLS and complete the handshake within *timeout* seconds
    (:exc:`TimeoutError` past it); the stream is closed if the handshake fails."""
    try:
        with anyio.fail_after(timeout):
            return await TLSStream.wrap(
                _OneSender(stream),
                server_side=server_side,
                hostname=hostname,
                ssl_context=context,
            )
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise


def _peername(stream: anyio.abc.AnyByteStream) -> Any:
    """The peer's address of a socket stream, also under TLS (``None`` for others)."""
    return stream.extra(anyio.abc.SocketAttribute.remote_address, None)


class FramedStream(BaseFramedStream):
    """Whole frames and framed events over any :class:`anyio.abc.ByteStream`.

    Everything but the transport is :class:`~asyncframe.adapters._stream.BaseFramedStream`'s
    (the reading calls, :exc:`~asyncframe.FrameTooLong`, the end of the stream).
    It wraps a socket stream, an :class:`anyio.streams.tls.TLSStream`, a stapled
    memory stream, or the stream an anyio listener hands a handler;
    :meth:`~asyncframe.adapters._stream.BaseFramedStream.connect` opens one with
    :func:`anyio.connect_tcp`. A broken connection while receiving ends the
    stream like a close; ``send()`` raises :exc:`anyio.BrokenResourceError`, as
    anyio's streams do.

    :param stream: the stream to read from and write to.
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        terminator: TerminatorSpec = b"\r\n",
        *,
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
        read_size: int = 65536,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        max_record_size: int | None = DEFAULT_MAX_RECORD_SIZE,
    ) -> None:
        if not isinstance(stream, anyio.abc.ByteStream):
            raise TypeError(f"stream must be an anyio.abc.ByteStream, not {type(stream).__name__}")
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
        stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port, **options)
        if context is not None:
            # A bad certificate fails here, not as an EOF later. No bound but the
            # caller's: connect() has no tls_handshake_timeout.
            stream = await _wrap_tls(
                stream, context, server_side=False, hostname=server_hostname, timeout=None
            )
        return cls(stream, **framing)

    async def _start_tls(
        self,
        context: ssl_module.SSLContext,
        server_side: bool,
        server_hostname: str | None,
        timeout: float | None,
    ) -> None:
        try:
            tls = await _wrap_tls(
                self.stream,
                context,
                server_side=server_side,
                hostname=server_hostname,
                timeout=timeout,
            )
        except TimeoutError:
            raise TimeoutError(f"the TLS handshake took over {timeout} s") from None
        self.stream = tls

    async def _receive_some(self, max_bytes: int) -> bytes | bytearray:
        try:
            return await self.stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""
        except (anyio.BrokenResourceError, OSError) as exc:
            logger.debug("receive failed, treated as EOF: %r", exc)
            return b""

    async def _send_all(self, data: bytes) -> None:
        # Send while reading what arrives meanwhile, so a peer that waits for us to
        # read before it reads never stalls the send (anyio's receive loses nothing
        # when cancelled); unless another task reads already.
        if not self._read_meanwhile:
            await self.stream.send(data)
            return
        failed: list[ProtocolError] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._read_while_sending, failed, tg.cancel_scope)
            await self.stream.send(data)
            tg.cancel_scope.cancel()
        if failed:
            # Past input_limit: the send was cut short, so the connection is unusable.
            await anyio.aclose_forcefully(self.stream)
            raise failed[0]  # itself, not wrapped in the task group's ExceptionGroup

    async def _read_while_sending(
        self, failed: list[ProtocolError], sending: anyio.CancelScope
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
    """Runs one Handler on one stream through the core's driver, in two tasks.

    The reader (the connection's own task) hands each read to the driver; the
    writer sends what the driver has to send, a piece at a time, and sleeps on an
    event while there is nothing: the reader wakes it after a read, and so does
    :meth:`_woken` when a timer or another task pushed. Both run in a task group of
    the connection's, each in a cancel scope of its own: ending the connection
    cancels both (the reader's deadline is the idle timeout's).
    """

    __slots__ = ("driver", "flushed", "read_size", "scope", "sending", "stream", "wake")

    def __init__(self, handler: Handler, stream: anyio.abc.ByteStream, opts: Options) -> None:
        self.stream = stream
        self.read_size = opts.read_size
        self.driver = opts.driver(
            handler, clock=anyio.current_time, schedule=self._woken, log=logger
        )
        # The reader's scope (its deadline is the idle timeout's) and the writer's.
        self.scope: anyio.CancelScope | None = None
        self.sending = anyio.CancelScope()
        # Set by the writer once the output before a start_tls() is sent.
        self.flushed: anyio.Event | None = None
        # The event the writer sleeps on (None while it sends).
        self.wake: anyio.Event | None = None

    def _woken(self) -> None:
        # Output or a close asked for from outside a callback: act on it now.
        self.driver.woke()
        self._act()

    def _act(self) -> None:
        """Do what the driver's state asks: end the connection, or wake the writer."""
        state = self.driver.state
        if state is ABORTING or state is CLOSED:
            self._end()
        elif self.wake is not None:
            self.wake.set()
            self.wake = None

    def _end(self) -> None:
        self.sending.cancel()
        if self.scope is not None:
            self.scope.cancel()

    async def _writer(self) -> None:
        """Send the output while there is some (dispatching held input as it drains);
        end the connection when the driver says so."""
        # A scope of its own, so that the end of the connection ends this task by
        # returning: a task that ends cancelled leaves, under the asyncio backend, its
        # CancelledError in a reference cycle (with this frame, so the runner, the
        # driver and the handler) until the cyclic collector runs.
        with self.sending:
            await self._send_output()
        self._end()

    async def _send_output(self) -> None:
        driver = self.driver
        size = self.read_size
        while True:
            state = driver.state
            if state is ABORTING or state is CLOSED:
                return
            data = driver.take(size)
            if data:
                try:
                    # The attribute, not a bound method kept: a STARTTLS upgrade
                    # replaces the stream.
                    await self.stream.send(data)
                except _PEER_FAULTS as exc:
                    logger.debug("send failed: %r", exc)
                    drop_tracebacks(exc)
                    return
                except BaseException as exc:
                    _cancelled(exc)
                    raise
                continue
            state = driver.state
            if state is ABORTING or state is DRAINING:
                return
            if driver.upgrade_due and self.flushed is not None:
                self.flushed.set()
            wake = self.wake = anyio.Event()
            await wake.wait()

    async def _upgrade(self) -> bool:
        """Start the TLS a ``start_tls()`` asked for, once the output before it is
        sent; True once the handshake completed."""
        driver = self.driver
        upgrade = driver.tls_upgrade
        assert upgrade is not None
        flushed = self.flushed = anyio.Event()
        self._act()
        await flushed.wait()
        self.flushed = None
        if driver.state is not UPGRADING:
            return False
        scope = self.scope
        assert scope is not None
        scope.deadline = math.inf  # idle_timeout does not apply to the handshake
        try:
            tls = await _wrap_tls(
                self.stream,
                upgrade_context(upgrade),
                server_side=upgrade.server_side,
                hostname=upgrade.server_hostname,
                timeout=driver.tls_handshake_timeout,
            )
        except TimeoutError:
            driver.tls_failed(TimeoutError("tls_handshake_timeout"))
            return False
        except (*_PEER_FAULTS, anyio.EndOfStream) as exc:
            drop_tracebacks(exc)
            driver.tls_failed(exc)
            return False
        except BaseException as exc:
            _cancelled(exc)
            raise
        self.stream = tls
        driver.tls_started(tls.extra(TLSAttribute.ssl_object))
        if driver.idle_timeout is not None:
            scope.deadline = driver.idle_deadline  # type: ignore[assignment]
        self._act()
        return True

    async def _reader(self) -> None:
        driver = self.driver
        scope = self.scope
        assert scope is not None
        size = self.read_size
        idle = driver.idle_timeout is not None
        # An upgrade to TLS goes round the outer loop with the new stream.
        while True:
            receive = self.stream.receive
            while driver.state in READING:
                try:
                    data = await receive(size)
                except anyio.EndOfStream:
                    data = b""
                except _PEER_FAULTS as exc:
                    drop_tracebacks(exc)
                    if not _ragged_eof(exc):
                        logger.debug("receive failed: %r", exc)
                        return
                    data = b""  # a ragged EOF under TLS (no close_notify): an EOF
                except BaseException as exc:
                    _cancelled(exc)
                    raise
                driver.receive(data)
                if idle:
                    scope.deadline = driver.idle_deadline  # type: ignore[assignment]
                self._act()
            if driver.state is not UPGRADING:
                break
            if not await self._upgrade():
                return  # the handshake failed: the connection ends
        # Not reading any more: the writer (or _act) ends the connection.
        await anyio.sleep_forever()

    async def run(self, peername: Any) -> None:
        driver = self.driver
        try:
            async with anyio.create_task_group() as tg:
                with anyio.CancelScope() as scope:
                    self.scope = scope
                    if driver.idle_timeout is not None:
                        scope.deadline = anyio.current_time() + driver.idle_timeout
                    driver.start(peername)
                    tg.start_soon(self._writer)
                    await self._reader()
                # Past the idle deadline, the driver aborts (and says so in the log).
                if scope.cancelled_caught and driver.idle_timeout is not None:
                    driver.idle_check(anyio.current_time())
                self._end()  # a fault, a failed handshake, the deadline: the writer too
        finally:
            self.scope = None
            self.wake = self.flushed = None
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(self.stream)
            driver.lost()


def _check_handler(handler: object) -> None:
    if not isinstance(handler, Handler):
        raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")


async def run_handler(
    handler: Handler,
    stream: anyio.abc.ByteStream,
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
    byte; a TLS handshake (a :meth:`~asyncframe.Handler.start_tls` upgrade) not done
    within *tls_handshake_timeout* seconds ends it too.

    A :class:`~anyio.streams.tls.TLSStream` you wrapped yourself is read and written
    by two tasks at once; anyio's socket streams refuse concurrent sends, which it
    makes only if OpenSSL answers a read (a TLS 1.3 key update): streams this module
    wraps take their sends in turn, so prefer :func:`connect` with *ssl*.
    """
    _check_handler(handler)
    if not isinstance(stream, anyio.abc.ByteStream):
        raise TypeError(f"stream must be an anyio.abc.ByteStream, not {type(stream).__name__}")
    opts = options(
        read_size=read_size,
        high_water=high_water,
        input_limit=input_limit,
        idle_timeout=idle_timeout,
        tls_handshake_timeout=tls_handshake_timeout,
    )
    await _Runner(handler, stream, opts).run(_peername(stream))


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
    task_status: anyio.abc.TaskStatus[list[anyio.abc.SocketListener]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler_factory()`` on each connection to *host*:*port* (over TLS
    with *ssl*) until cancelled.

    Run it with ``listeners = await task_group.start(serve, factory, host, 0)``: it
    returns once listening, with a list of the :class:`anyio.abc.SocketListener` it
    listens with (*port* 0 lets the system pick one, read back with
    ``listeners[0].extra(SocketAttribute.local_address)``; no *host* listens on
    every interface, IPv6 too where one socket can take both). Cancel the
    task group to stop serving and close every connection. The options are the
    same on every adapter (see :func:`run_handler`; *backlog* is the listen
    queue). Instead of *host* and *port*: *path*, a Unix domain socket to listen on
    (a stale socket file there is removed first; its permissions are the
    caller's), or *sock*, a listening socket you already have (inherited,
    pre-bound, from systemd's socket activation), which the server then owns.
    *reuse_port* sets ``SO_REUSEPORT`` on the TCP socket, so that several processes
    serve one port. With *ssl*, ``handler_factory()`` is called once the handshake
    completed, within *tls_handshake_timeout* seconds (a slower one closes its
    connection).
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
    context = server_tls(ssl)
    # Every argument is checked (and the socket made) before anything is awaited;
    # the checks of _checks are the ones of every adapter.
    made = server_socket(host, port, opts.backlog, path=path, sock=sock, reuse_port=reuse_port)
    try:
        # anyio owns the socket from here (a Unix one gets anyio's Unix listener).
        listeners = [await anyio.abc.SocketListener.from_socket(made)]
    except BaseException:
        made.close()
        raise

    async def handle(stream: anyio.abc.SocketStream) -> None:
        # Every connection's own task (anyio's listeners set TCP_NODELAY).
        connection: anyio.abc.ByteStream = stream
        if context is not None:
            try:
                connection = await _wrap_tls(
                    stream,
                    context,
                    server_side=True,
                    hostname=None,
                    timeout=opts.tls_handshake_timeout,
                )
            except (TimeoutError, anyio.EndOfStream, *_PEER_FAULTS) as exc:
                logger.debug("TLS handshake failed: %r", exc)
                drop_tracebacks(exc)
                return
        handler = start_handler(handler_factory, logger)
        if handler is None:
            await anyio.aclose_forcefully(connection)
            return
        await _Runner(handler, connection, opts).run(_peername(connection))

    async with anyio.create_task_group() as tg:
        for listener in listeners:
            tg.start_soon(_accept_loop, listener, handle, tg)
        task_status.started(listeners)


async def _accept_loop(
    listener: anyio.abc.SocketListener,
    handle: Callable[[anyio.abc.SocketStream], Any],
    tg: anyio.abc.TaskGroup,
) -> None:
    """Accept connections until cancelled, with the core's accept policy: out of
    descriptors, the listener pauses and the burst is logged once."""
    backoff = AcceptBackoff(logger)
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except (OSError, anyio.BrokenResourceError) as exc:
                # The trio backend reports accept()'s OSError (EMFILE, say) as a
                # BrokenResourceError caused by it; asyncio's raises it as it is.
                error = exc.__cause__ if isinstance(exc, anyio.BrokenResourceError) else exc
                if not isinstance(error, OSError):
                    raise
                delay = backoff.failed(error)
                if delay is not None:
                    await anyio.sleep(delay)  # the connections wait in the backlog
                continue
            backoff.succeeded()
            tg.start_soon(handle, stream)


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
    task_status: anyio.abc.TaskStatus[Handler] = anyio.TASK_STATUS_IGNORED,
) -> Handler:
    """Connect to *host*:*port* (or the Unix domain socket *path*, or over *sock*,
    a connected socket; over TLS with *ssl*) and run *handler* until the
    connection ends; return the handler.

    ``await task_group.start(connect, handler, host, port)`` returns once connected
    (with *ssl*, once the handshake completed within *tls_handshake_timeout*
    seconds; the certificate must match *server_hostname*, default *host*) and
    leaves the connection running in the task group.
    """
    _check_handler(handler)
    opts = options(
        read_size=read_size,
        high_water=high_water,
        input_limit=input_limit,
        idle_timeout=idle_timeout,
        tls_handshake_timeout=tls_handshake_timeout,
    )
    if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
        raise TypeError(f"ssl must be an ssl.SSLContext or None, not {type(ssl).__name__}")
    if server_hostname is not None and not isinstance(server_hostname, str):
        kind = type(server_hostname).__name__
        raise TypeError(f"server_hostname must be a str or None, not {kind}")
    target = connected_socket(host, port, path, sock)
    stream: anyio.abc.ByteStream
    if path is not None:
        stream = await anyio.connect_unix(target)
    elif sock is not None:
        if target.family == getattr(socket, "AF_UNIX", None):
            stream = await anyio.abc.UNIXSocketStream.from_socket(target)
        else:
            stream = await anyio.abc.SocketStream.from_socket(target)
    else:
        assert host is not None
        assert port is not None
        check_port(port)
        stream = await anyio.connect_tcp(host, port)
    if ssl is not None:
        try:
            stream = await _wrap_tls(
                stream,
                ssl,
                server_side=False,
                hostname=server_hostname or host,
                timeout=opts.tls_handshake_timeout,
            )
        except TimeoutError:
            raise TimeoutError(
                f"the TLS handshake took over {opts.tls_handshake_timeout} s"
            ) from None
    task_status.started(handler)
    await _Runner(handler, stream, opts).run(_peername(stream))
    return handler
