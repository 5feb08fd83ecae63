"""The half of ``FramedStream`` that every async framework shares.

:class:`BaseFramedStream` does the framing (a :class:`~asyncframe.Channel`), the
iteration, the argument checks and the end-of-stream rules; it reaches the network
only through two awaitables a subclass provides, ``_receive_some`` and
``_send_all``, plus ``aclose`` and the ``_open`` that :meth:`~BaseFramedStream.connect`
calls. The asyncio and trio ``FramedStream`` classes are those few methods.
"""

from __future__ import annotations

import ssl as _ssl
import sys
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    from typing import Self
elif TYPE_CHECKING:
    from typing_extensions import Self

from asyncframe import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_RECORD_SIZE,
    NEED_DATA,
    Channel,
    ConnectionClosed,
    Event,
    ProtocolError,
    SendAfterClose,
    TerminatorSpec,
)
from asyncframe._driver import _check_seconds
from asyncframe.adapters._checks import (
    DEFAULT_INPUT_LIMIT,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    check_port,
    check_sizes,
    client_tls,
)

__all__ = ["BaseFramedStream"]


class BaseFramedStream(ABC):
    """Whole frames and framed events over a byte stream, read as the caller asks.

    - ``async for event in stream`` yields :class:`~asyncframe.Data` and
      :class:`~asyncframe.Terminator` events and, once the peer has closed, one
      :class:`~asyncframe.ConnectionClosed`;
    - :meth:`frames` yields each complete frame (terminator excluded) until the
      peer closes; :meth:`receive_frame` returns the next one;
    - :attr:`terminator` may be set between two frames or events: it applies from
      the next unread byte, so a header can announce a byte count for the body.

    Bytes are read only when the buffered ones do not complete what was asked
    for, at most *read_size* at a time, and while :meth:`send` waits for the
    transport: a peer that answers a pipeline before it has read all of it gets
    its replies read (they wait in :attr:`channel` for the reading calls), so
    sending never waits on a peer that waits on us. A connection the peer breaks
    (a reset) ends like a close.

    **Frames that are too long.** A frame longer than *max_frame_size* raises
    :exc:`~asyncframe.FrameTooLong` from the three reading calls, and only from
    them: :meth:`receive_frame`, the iterator of :meth:`frames` (which then
    stops) and ``async for event in stream``. The frame's bytes are dropped and
    the rest of it is skipped as it arrives, so catching the error and reading
    on continues with the next frame; :meth:`send`, :meth:`aclose` and
    :meth:`connect` never raise it. An exception that escapes a connection
    handler stops a whole :func:`trio.serve_tcp` server, so a trio handler that
    serves untrusted peers catches it (and :exc:`EOFError`, if it uses
    :meth:`receive_frame`)::

        async def handler(tcp):
            async with FramedStream(tcp) as stream:
                while True:
                    try:
                        frame = await stream.receive_frame()
                    except FrameTooLong:
                        await stream.send(b"ERR line too long\\r\\n")
                        continue
                    except EOFError:
                        return
                    await stream.send(frame + b"\\r\\n")

    :param terminator: the initial terminator (see :meth:`asyncframe.Channel.set_terminator`).
    :param max_frame_size: the longest frame accepted, in bytes (see
        :class:`~asyncframe.Channel`).
    :param max_record_size: the longest count or record payload accepted, in
        bytes (see :attr:`Channel.max_record_size <asyncframe.Channel.max_record_size>`).
    :param read_size: the most bytes read at once.
    :param input_limit: the most bytes kept unread while :meth:`send` waits;
        past it :meth:`send` raises :exc:`~asyncframe.ProtocolError` and the
        connection is aborted (the rest of the send is dropped).
    """

    def __init__(
        self,
        terminator: TerminatorSpec = b"\r\n",
        *,
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
        read_size: int = 65536,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        max_record_size: int | None = DEFAULT_MAX_RECORD_SIZE,
    ) -> None:
        check_sizes(read_size=read_size, input_limit=input_limit)
        #: The :class:`~asyncframe.Channel` that does the framing.
        self.channel = Channel(
            terminator, max_frame_size=max_frame_size, max_record_size=max_record_size
        )
        self._read_size = read_size
        self._input_limit = input_limit
        self._receiving = False  # a reading call waits for the peer (maybe in another task)
        self._closed_reported = False
        self._closed_locally = False  # aclose() was called

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        terminator: TerminatorSpec = b"\r\n",
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
        max_record_size: int | None = DEFAULT_MAX_RECORD_SIZE,
        read_size: int = 65536,
        ssl: _ssl.SSLContext | bool | None = None,
        server_hostname: str | None = None,
        **options: Any,
    ) -> Self:
        """Open a TCP connection to *host*:*port* and return a stream on it.

        Every argument is checked before anything is opened. With *ssl* (an
        :class:`ssl.SSLContext`, or True for :func:`ssl.create_default_context`)
        the connection is TLS and the handshake is done before this returns; the
        certificate is checked against *server_hostname* (default: *host*). Other
        keyword arguments go to the framework's own ``open`` function.
        """
        # Checks all three, opens nothing.
        Channel(terminator, max_frame_size=max_frame_size, max_record_size=max_record_size)
        check_sizes(read_size=read_size)
        check_port(port)
        context = client_tls(ssl, server_hostname)
        if context is not None and server_hostname is None:
            server_hostname = host
        framing = {
            "terminator": terminator,
            "max_frame_size": max_frame_size,
            "max_record_size": max_record_size,
            "read_size": read_size,
        }
        return await cls._open(host, port, context, server_hostname, options, framing)

    # -- what a framework provides ------------------------------------------------------

    @classmethod
    @abstractmethod
    async def _open(
        cls,
        host: str,
        port: int,
        context: _ssl.SSLContext | None,
        server_hostname: str | None,
        options: dict[str, Any],
        framing: dict[str, Any],
    ) -> Self:
        """Connect (with TLS if *context*, and the framework's *options*); return
        ``cls(<the transport>, **framing)``."""

    async def _start_tls(
        self,
        context: _ssl.SSLContext,
        server_side: bool,
        server_hostname: str | None,
        timeout: float | None,
    ) -> None:
        """Wrap the connection in TLS and complete the handshake within *timeout*
        seconds (raising :exc:`TimeoutError` past it); a framework that cannot
        leaves this one."""
        raise NotImplementedError(f"{type(self).__name__} cannot start TLS on its transport")

    @abstractmethod
    async def _receive_some(self, max_bytes: int) -> bytes | bytearray:
        """Return up to *max_bytes* received bytes; ``b""`` once the peer closed or broke."""

    @abstractmethod
    async def _send_all(self, data: bytes) -> None:
        """Send all of *data*, waiting while the transport is full, and meanwhile
        hand what arrives to :meth:`_received` (see :meth:`send`)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the connection (calling it again does nothing); from then on the
        reading calls raise :exc:`~asyncframe.ProtocolError` and :meth:`send`
        raises :exc:`~asyncframe.SendAfterClose`, saying the stream was closed
        locally. (A subclass's ``aclose`` calls ``self._closing()`` first.)"""

    def _closing(self) -> None:
        """Mark the stream closed locally: the calls that follow say so."""
        self._closed_locally = True

    def _check_open(self, what: str) -> None:
        if self._closed_locally:
            error = SendAfterClose if what == "send()" else ProtocolError
            raise error(
                f"{what} after aclose(): the stream was closed locally"
                " (by this side, not by the peer)"
            )

    # -- framing ------------------------------------------------------------------------

    @property
    def terminator(self) -> TerminatorSpec:
        """The current terminator; assigning sets it from the next unread byte on."""
        return self.channel.terminator

    @terminator.setter
    def terminator(self, terminator: TerminatorSpec) -> None:
        self.channel.set_terminator(terminator)

    @property
    def trailing_data(self) -> bytes:
        """After the peer closed, the bytes no terminator ended (``b""`` before)."""
        return self.channel.trailing_data

    async def _fill(self) -> None:
        self._receiving = True
        try:
            data = await self._receive_some(self._read_size)
        finally:
            self._receiving = False
        self.channel.receive_data(data)

    @property
    def _read_meanwhile(self) -> bool:
        """True if a send that waits should read what arrives: no other task reads."""
        return not self._receiving and not self.channel.eof

    def _received(self, data: bytes | bytearray) -> None:
        """Bytes read while a send waited: keep them for the reading calls, up to
        ``input_limit``."""
        channel = self.channel
        if channel.eof:
            return
        channel.receive_data(data)
        if channel.buffered_input > self._input_limit:
            raise ProtocolError(
                f"the peer sent {channel.buffered_input} bytes that were not read while"
                f" send() waited for it to read (input_limit={self._input_limit}):"
                " read its replies, or raise input_limit"
            )

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        """Return the next event, reading as needed; stop after ConnectionClosed."""
        self._check_open("async for")
        channel = self.channel
        while True:
            event = channel.next_event()
            if event is NEED_DATA:
                await self._fill()
                continue
            if type(event) is ConnectionClosed:
                if self._closed_reported:
                    raise StopAsyncIteration
                self._closed_reported = True
            return event

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield each complete frame (terminator excluded) until the peer closes.

        An unterminated tail left at the end is in :attr:`trailing_data`.
        """
        self._check_open("frames()")
        channel = self.channel
        while True:
            for frame in channel.frames():
                yield frame
            if channel.eof:
                return
            await self._fill()

    async def receive_frame(self) -> bytes:
        """Return the next complete frame (terminator excluded), reading as needed.

        Raises :exc:`EOFError` if the peer closed before another frame was
        complete; the bytes it left unterminated are in :attr:`trailing_data`.
        """
        self._check_open("receive_frame()")
        channel = self.channel
        while True:
            frame = next(channel.frames(), None)
            if frame is not None:
                return frame
            if channel.eof:
                left = len(channel.trailing_data)
                raise EOFError(
                    "the peer closed the connection before the next frame was complete"
                    + (f" ({left} bytes without a terminator are in trailing_data)" if left else "")
                )
            await self._fill()

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send *data* (a bytes-like object), waiting while the transport is full."""
        self._check_open("send()")
        channel = self.channel
        channel.push(data)  # the type check of every push
        await self._send_all(channel.data_to_send())

    async def start_tls(
        self,
        context: _ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> None:
        """Upgrade the connection to TLS (STARTTLS), after what was sent so far.

        Call it once the peer agreed (the ``220`` read): the handshake is done
        before this returns, within *tls_handshake_timeout* seconds
        (:exc:`TimeoutError` past it; a failed one raises :exc:`ssl.SSLError` or
        :exc:`OSError`); from then on everything is sent and read over TLS.
        Bytes already received past the reply were sent in clear text, so they
        are not read as if they came over TLS: :exc:`~asyncframe.ProtocolError`
        is raised instead, and nothing is changed.
        """
        if not isinstance(context, _ssl.SSLContext):
            raise TypeError(f"context must be an ssl.SSLContext, not {type(context).__name__}")
        if not isinstance(server_side, bool):
            raise TypeError(f"server_side must be a bool, not {type(server_side).__name__}")
        if server_hostname is not None and not isinstance(server_hostname, str):
            kind = type(server_hostname).__name__
            raise TypeError(f"server_hostname must be a str or None, not {kind}")
        timeout = _check_seconds("tls_handshake_timeout", tls_handshake_timeout)
        left = self.channel.buffered_input
        if left:
            raise ProtocolError(
                f"{left} bytes were received in clear text past the reply that agreed to"
                " start TLS: refusing to read them as if they came over TLS"
            )
        await self._start_tls(context, server_side, server_hostname, timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
