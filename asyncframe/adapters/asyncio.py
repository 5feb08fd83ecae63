"""asyncio adapters: run a :class:`~asyncframe.Handler`, or read framed events as a stream.

Two ways in:

- :func:`serve` and :func:`connect` run a :class:`~asyncframe.Handler` per connection
  through :class:`HandlerProtocol`, an :class:`asyncio.BufferedProtocol` that honours
  flow control both ways: while the transport has asked to pause writing, no producer
  is pulled; while more than *high_water* bytes of output wait, the peer is not read.
- :class:`FramedStream` wraps an ``asyncio`` stream pair for ``async for event in
  stream`` code, with the framing done by a :class:`~asyncframe.Channel`.

TLS works as everywhere in asyncio: pass ``ssl=`` (and, for clients,
``server_hostname=``) through the keyword arguments.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

from asyncframe import DEFAULT_MAX_FRAME_SIZE, Handler, TerminatorSpec
from asyncframe.adapters._checks import check_sizes
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
    straight to the handler (which copies them); its
    output is written as soon as it is queued, at most *write_size* bytes at a
    time, and not at all while the transport has paused writing (so a large
    producer is pulled only as fast as the peer reads). While more than
    *high_water* bytes of output wait to be sent, the transport stops reading, so a
    peer that sends without reading cannot grow them without bound. An exception
    raised by the handler is logged and closes this connection only.

    :ivar pause_count: how many times the transport asked to pause writing.
    :ivar read_pause_count: how many times reading was paused for *high_water*.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        read_size: int = 65536,
        write_size: int = 65536,
        high_water: int = 1 << 20,
    ) -> None:
        if not isinstance(handler, Handler):
            raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
        check_sizes(read_size=read_size, write_size=write_size, high_water=high_water)
        self.handler = handler
        self.high_water = high_water
        self.read_pause_count = 0
        self._reading_paused = False
        self.read_size = read_size
        self.write_size = write_size
        self.pause_count = 0
        self.transport: asyncio.Transport | None = None
        self._view = _receive_buffer(read_size)
        self._paused = False
        self._peer_eof = False
        self._closed = False
        self._in_callback = False
        self._flush_scheduled = False
        #: Resolved when the connection is gone.
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- user code, guarded ------------------------------------------------------------

    def _call(self, func: Callable[[], object]) -> bool:
        self._in_callback = True
        try:
            func()
        except Exception:
            logger.exception("handler %r raised; closing its connection", self.handler)
            self._abort()
            return False
        finally:
            self._in_callback = False
        return True

    def _abort(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.abort()

    def _wakeup(self) -> None:
        # Output queued outside a callback (another task, a timer): flush it soon.
        if not self._in_callback and not self._flush_scheduled and not self._closed:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        """Write what may be written, then close if the handler (or the peer) is done."""
        transport = self.transport
        if transport is None or self._closed or transport.is_closing():
            return
        handler = self.handler
        if handler.wants_abort:
            transport.abort()
            return
        size = self.write_size
        while not self._paused:
            try:
                data = handler.take_output(size)
            except Exception:
                logger.exception("a producer of %r raised; closing its connection", handler)
                transport.abort()
                return
            if not data:
                break
            transport.write(data)
        if not self._paused and (handler.wants_close or self._peer_eof):
            transport.close()
            return
        if self._peer_eof:
            return
        over = handler.buffered_output > self.high_water
        if over and not self._reading_paused:
            self._reading_paused = True
            self.read_pause_count += 1
            transport.pause_reading()
        elif not over and self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    # -- asyncio protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handler on the new connection."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.handler.set_wakeup(self._wakeup)
        if self._call(self.handler.connection_made):
            self._flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        """Hand asyncio the receive buffer (one per thread, shared by its protocols)."""
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        """Feed the received bytes to the handler, then write its output."""
        view = self._view[:nbytes]
        if self._call(lambda: self.handler.data_received(view)):
            self._flush()

    def eof_received(self) -> bool:
        """The peer closed its side: finish the handler's input and send its last output."""
        self._peer_eof = True
        if not self._call(self.handler.eof_received):
            return False
        transport = self.transport
        if transport is not None and transport.get_extra_info("sslcontext") is not None:
            # TLS has no half-close: the transport closes after this, so write it all now.
            try:
                rest = self.handler.take_output()
            except Exception:
                logger.exception("a producer of %r raised", self.handler)
                return False
            if rest:
                transport.write(rest)
            return False
        self._flush()
        return True  # keep the transport: _flush() closes it once the output is out

    def pause_writing(self) -> None:
        """The transport's buffer is full: stop pulling output."""
        self._paused = True
        self.pause_count += 1

    def resume_writing(self) -> None:
        """The transport drained: write again."""
        self._paused = False
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone (closed, reset or aborted): tell the handler, once."""
        self._closed = True
        if exc is not None:
            logger.debug("connection lost: %r", exc)
        try:
            self.handler.connection_lost()
        except Exception:
            logger.exception("on_close of %r raised", self.handler)
        if not self.closed.done():
            self.closed.set_result(None)


async def serve(
    handler_factory: Callable[[], Handler],
    host: str | None = None,
    port: int = 0,
    *,
    high_water: int = 1 << 20,
    **kwargs: Any,
) -> asyncio.Server:
    """Start a server that runs ``handler_factory()`` for each connection.

    Returns the :class:`asyncio.Server` (``server.sockets[0].getsockname()`` gives
    the bound address; port 0 lets the system choose). *high_water* is passed to
    :class:`HandlerProtocol`; other keyword arguments, such as ``ssl=``, go to
    :meth:`asyncio.loop.create_server`.
    """
    if not callable(handler_factory):
        raise TypeError("handler_factory must be callable (a Handler subclass, say)")
    check_sizes(high_water=high_water)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HandlerProtocol(handler_factory(), high_water=high_water), host, port, **kwargs
    )


async def connect(
    handler: Handler, host: str, port: int, *, high_water: int = 1 << 20, **kwargs: Any
) -> Handler:
    """Connect to *host*:*port*, run *handler* on the connection and return it.

    *high_water* is passed to :class:`HandlerProtocol`; other keyword arguments, such
    as ``ssl=`` and ``server_hostname=``, go to :meth:`asyncio.loop.create_connection`.
    ``handler.on_close()`` is called when the connection ends.
    """
    if not isinstance(handler, Handler):
        raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
    check_sizes(high_water=high_water)
    loop = asyncio.get_running_loop()
    await loop.create_connection(
        lambda: HandlerProtocol(handler, high_water=high_water), host, port, **kwargs
    )
    return handler


class FramedStream(BaseFramedStream):
    """Whole frames and framed events over an asyncio stream pair.

    Everything but the transport is :class:`~asyncframe.adapters._stream.BaseFramedStream`'s
    (the reading calls, :exc:`~asyncframe.FrameTooLong`, the end of the stream).
    :meth:`connect` opens the pair with :func:`asyncio.open_connection`; a server
    wraps the pair :func:`asyncio.start_server` hands it.

    :param reader: the :class:`asyncio.StreamReader` to read from.
    :param writer: the :class:`asyncio.StreamWriter` to write to.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        terminator: TerminatorSpec = b"\r\n",
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        read_size: int = 65536,
    ) -> None:
        if not isinstance(reader, asyncio.StreamReader):
            raise TypeError(f"reader must be an asyncio.StreamReader, not {type(reader).__name__}")
        if not isinstance(writer, asyncio.StreamWriter):
            raise TypeError(f"writer must be an asyncio.StreamWriter, not {type(writer).__name__}")
        super().__init__(terminator, max_frame_size=max_frame_size, read_size=read_size)
        self.reader = reader
        self.writer = writer

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
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=server_hostname, **options
        )
        return cls(reader, writer, **framing)

    async def _receive_some(self, max_bytes: int) -> bytes | bytearray:
        try:
            return await self.reader.read(max_bytes)
        except OSError as exc:  # a reset, or TLS broken mid-stream: the end of the stream
            logger.debug("read failed, treated as EOF: %r", exc)
            return b""

    async def _send_all(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def aclose(self) -> None:
        """Close the connection and wait until it is closed."""
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError as exc:
            logger.debug("close: %r", exc)
