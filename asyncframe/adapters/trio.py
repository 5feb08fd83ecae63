"""trio adapters: framed streams, and Handlers run with trio's structured concurrency.

- :class:`FramedStream` wraps any :class:`trio.abc.Stream` (a ``SocketStream``, an
  ``SSLStream``, a memory stream) for ``async for event in stream`` code.
- :func:`serve` runs a :class:`~asyncframe.Handler` per connection, with
  :func:`trio.serve_tcp`'s conventions (``await nursery.start(serve, factory, 0)``);
  :func:`connect` and :func:`run_handler` run one on a connection you open.

Output is sent with ``send_all``, one piece at a time, so a producer is pulled only
as fast as the peer reads. Peer faults end the connection with ``on_close()``; an
exception raised by a handler is logged and closes its connection only.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from functools import partial
from typing import Any

try:
    import trio
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "asyncframe.adapters.trio needs trio, an optional dependency: "
        'pip install "asyncframe[trio]"'
    ) from exc

from asyncframe import DEFAULT_MAX_FRAME_SIZE, Handler, TerminatorSpec
from asyncframe.adapters._checks import check_sizes
from asyncframe.adapters._stream import BaseFramedStream

__all__ = ["FramedStream", "connect", "run_handler", "serve"]

logger = logging.getLogger("asyncframe.adapters.trio")

_PEER_FAULTS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class FramedStream(BaseFramedStream):
    """Whole frames and framed events over any :class:`trio.abc.Stream`.

    Everything but the transport is :class:`~asyncframe.adapters._stream.BaseFramedStream`'s
    (the reading calls, :exc:`~asyncframe.FrameTooLong`, the end of the stream).
    It wraps a ``SocketStream``, an :class:`trio.SSLStream`, a memory stream, or
    the stream :func:`trio.serve_tcp` hands a handler; :meth:`connect` opens one
    with :func:`trio.open_tcp_stream`. A :exc:`trio.BrokenResourceError` while
    receiving ends the stream like a close; :meth:`send` raises it as trio does.

    :param stream: the stream to read from and write to.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        terminator: TerminatorSpec = b"\r\n",
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        read_size: int = 65536,
    ) -> None:
        if not isinstance(stream, trio.abc.Stream):
            raise TypeError(f"stream must be a trio.abc.Stream, not {type(stream).__name__}")
        super().__init__(terminator, max_frame_size=max_frame_size, read_size=read_size)
        #: The wrapped stream.
        self.stream = stream

    @classmethod
    async def _open(
        cls,
        host: str,
        port: int,
        context: ssl.SSLContext | None,
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

    async def _receive_some(self, max_bytes: int) -> bytes | bytearray:
        try:
            return await self.stream.receive_some(max_bytes)
        except trio.BrokenResourceError as exc:
            logger.debug("receive failed, treated as EOF: %r", exc)
            return b""

    async def _send_all(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self.stream.aclose()


class _Runner:
    """Runs one Handler on one stream: a reader task and a writer task."""

    def __init__(
        self, handler: Handler, stream: trio.abc.Stream, size: int, high_water: int
    ) -> None:
        self.handler = handler
        self.stream = stream
        self.size = size
        self.high_water = high_water
        self.peer_eof = False
        self.in_callback = False
        self.wake = trio.Event()
        self.drained = trio.Event()
        self.scope: trio.CancelScope | None = None

    def _call(self, func: Callable[[], object]) -> bool:
        self.in_callback = True
        try:
            func()
        except Exception:
            logger.exception("handler %r raised; closing its connection", self.handler)
            self._stop()
            return False
        finally:
            self.in_callback = False
        return True

    def _stop(self) -> None:
        if self.scope is not None:
            self.scope.cancel()

    def wakeup(self) -> None:
        # Inside a callback the reader wakes the writer afterwards anyway.
        if not self.in_callback:
            self.wake.set()

    async def reader(self) -> None:
        handler = self.handler
        while True:
            try:
                data = await self.stream.receive_some(self.size)
            except _PEER_FAULTS as exc:
                logger.debug("receive failed: %r", exc)
                self._stop()
                return
            if not data:
                self.peer_eof = True
                self._call(handler.eof_received)
                self.wake.set()
                return
            if not self._call(partial(handler.data_received, data)):
                return
            self.wake.set()
            while handler.buffered_output > self.high_water:
                # The peer sends faster than it reads: stop reading until the
                # writer has sent enough of the output queued for it.
                self.drained = trio.Event()
                await self.drained.wait()

    async def writer(self) -> None:
        handler = self.handler
        while True:
            self.wake = trio.Event()
            if handler.wants_abort:
                self._stop()
                return
            try:
                data = handler.take_output(self.size)
            except Exception:
                logger.exception("a producer of %r raised; closing its connection", handler)
                self._stop()
                return
            if data:
                try:
                    await self.stream.send_all(data)
                except _PEER_FAULTS as exc:
                    logger.debug("send failed: %r", exc)
                    self._stop()
                    return
                if handler.buffered_output <= self.high_water:
                    self.drained.set()
                continue
            if handler.wants_close or self.peer_eof:
                self._stop()  # everything is out: end the reader too
                return
            await self.wake.wait()

    async def run(self) -> None:
        handler = self.handler
        handler.set_wakeup(self.wakeup)
        try:
            if self._call(handler.connection_made):
                async with trio.open_nursery() as nursery:
                    self.scope = nursery.cancel_scope
                    nursery.start_soon(self.reader)
                    nursery.start_soon(self.writer)
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self.stream)
            try:
                handler.connection_lost()
            except Exception:
                logger.exception("on_close of %r raised", handler)


async def run_handler(
    handler: Handler,
    stream: trio.abc.Stream,
    *,
    buffer_size: int = 65536,
    high_water: int = 1 << 20,
) -> None:
    """Run *handler* on *stream* until the connection ends, then close the stream.

    ``handler.on_close()`` is called exactly once, whatever ends the connection
    (the peer, the handler, an error or a cancellation). *buffer_size* is the most
    bytes received or sent at once; while more than *high_water* bytes of output
    wait to be sent, the peer is not read, so a peer that sends without reading
    cannot make the handler buffer without bound.
    """
    if not isinstance(handler, Handler):
        raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
    check_sizes(buffer_size=buffer_size, high_water=high_water)
    await _Runner(handler, stream, buffer_size, high_water).run()


async def serve(
    handler_factory: Callable[[], Handler],
    port: int,
    *,
    host: str | bytes | None = None,
    handler_nursery: trio.Nursery | None = None,
    ssl_context: ssl.SSLContext | None = None,
    high_water: int = 1 << 20,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler_factory()`` on each TCP connection (over TLS with *ssl_context*).

    Conventions of :func:`trio.serve_tcp`: run it with
    ``listeners = await nursery.start(serve, factory, 0)`` to learn the bound
    address; cancel the nursery to stop serving and close every connection.
    *high_water* is passed to :func:`run_handler`.
    """
    if not callable(handler_factory):
        raise TypeError("handler_factory must be callable (a Handler subclass, say)")
    check_sizes(high_water=high_water)

    async def handle(stream: trio.abc.Stream) -> None:
        try:
            handler = handler_factory()
        except Exception:
            logger.exception("handler_factory raised; dropping the connection")
            await trio.aclose_forcefully(stream)
            return
        await run_handler(handler, stream, high_water=high_water)

    if ssl_context is None:
        await trio.serve_tcp(
            handle, port, host=host, handler_nursery=handler_nursery, task_status=task_status
        )
    else:
        await trio.serve_ssl_over_tcp(
            handle,
            port,
            ssl_context,
            host=host,
            handler_nursery=handler_nursery,
            task_status=task_status,
        )


async def connect(
    handler: Handler, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
) -> Handler:
    """Connect to *host*:*port* (over TLS with *ssl_context*) and run *handler* until
    the connection ends; return the handler."""
    if not isinstance(handler, Handler):
        raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
    stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    if ssl_context is not None:
        stream = trio.SSLStream(stream, ssl_context, server_hostname=host)
    await run_handler(handler, stream)
    return handler
