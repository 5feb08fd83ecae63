"""``Handler``: a callback-style protocol object that every adapter can run."""

from __future__ import annotations

from collections.abc import Callable

from ._channel import Channel
from ._events import NEED_DATA, ConnectionClosed, Data, Terminator, TerminatorSpec
from ._framing import DEFAULT_MAX_FRAME_SIZE

__all__ = ["Handler"]


class Handler:
    """One side of one connection, written as callbacks; it does no I/O itself.

    Subclass it and override :meth:`on_connect`, :meth:`on_data`,
    :meth:`on_terminator` and :meth:`on_close` (and :meth:`on_eof` to answer a
    peer that half-closes); from them call :meth:`push`,
    :meth:`push_with_producer`, :meth:`set_terminator`, :meth:`close_when_done`
    or :meth:`close`. The same subclass runs unchanged on the selectors, asyncio
    and trio adapters, and in tests with :mod:`asyncframe.testing`.

    Adapters drive it through the *driver* methods (:meth:`connection_made`,
    :meth:`data_received`, :meth:`connection_lost`, :meth:`take_output`, ...);
    a protocol author never calls those.

    :param terminator: the initial terminator (default ``b"\\r\\n"``).
    :param max_frame_size: passed on to the :class:`Channel`.
    """

    def __init__(
        self,
        *,
        terminator: TerminatorSpec = b"\r\n",
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        #: The :class:`Channel` this handler runs on.
        self.channel = Channel(terminator, max_frame_size=max_frame_size)
        self._wakeup: Callable[[], None] | None = None
        self._abort = False
        self._connected = False
        self._closed = False

    # -- what a protocol overrides ---------------------------------------------------

    def on_connect(self) -> None:
        """Called once when the connection is established, before any data."""

    def on_data(self, data: bytes) -> None:
        """Called with payload bytes of the current frame (possibly in several pieces)."""

    def on_terminator(self, terminator: bytes | int) -> None:
        """Called when the current terminator is reached (the matched bytes, or the count)."""

    def on_eof(self) -> None:
        """Called when the peer has closed its side, after the last :meth:`on_data`.

        Output pushed here is still sent before the connection closes: answer an
        unterminated last request here.
        """

    def on_close(self) -> None:
        """Called once when the connection is gone, whoever closed it."""

    # -- what a protocol calls -------------------------------------------------------

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data* for sending (see :meth:`Channel.push`)."""
        self.channel._out.push(data)
        if self._wakeup is not None:
            self._wakeup()

    def push_with_producer(self, producer: object) -> None:
        """Queue a producer for sending (see :meth:`Channel.push_with_producer`)."""
        self.channel.push_with_producer(producer)
        self._notify()

    def set_terminator(self, terminator: TerminatorSpec) -> None:
        """Set the terminator, from the next unread byte on (see :meth:`Channel.set_terminator`)."""
        self.channel.set_terminator(terminator)

    def get_terminator(self) -> TerminatorSpec:
        """Return the current terminator."""
        return self.channel.get_terminator()

    def close_when_done(self) -> None:
        """Close the connection once everything queued so far has been sent.

        Input that arrives after this call is not dispatched any more.
        """
        self.channel.close_when_done()
        self._notify()

    def close(self) -> None:
        """Close the connection now; output not yet sent is dropped."""
        self._abort = True
        self._notify()

    # -- the driver interface, for adapters ------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`connection_lost` ran."""
        return self._closed

    @property
    def wants_close(self) -> bool:
        """True if the adapter should close the connection now (after sending
        :meth:`take_output`'s bytes, unless :attr:`wants_abort`)."""
        return self._abort or self.channel.wants_close

    @property
    def wants_abort(self) -> bool:
        """True if :meth:`close` was called: close at once, without sending more."""
        return self._abort

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        """Register *callback*, called when output is queued or a close is asked for.

        Adapters use it to learn about pushes made outside a callback (from a
        timer or another task of the same event loop).
        """
        self._wakeup = callback

    def _notify(self) -> None:
        if self._wakeup is not None:
            self._wakeup()

    def connection_made(self) -> None:
        """Driver: the connection is up; calls :meth:`on_connect` once."""
        if not self._connected:
            self._connected = True
            self.on_connect()

    def data_received(self, data: bytes | bytearray | memoryview) -> None:
        """Driver: bytes arrived (``b""`` for EOF); dispatches the events they complete.

        Dispatching stops once the protocol calls :meth:`close` or
        :meth:`close_when_done`: input after that point is not reported.
        """
        channel = self.channel
        channel.receive_data(data)
        while not (self._abort or channel.closing):
            event = channel.next_event()
            if event is NEED_DATA or type(event) is ConnectionClosed:
                return
            if type(event) is Data:
                self.on_data(event.data)
            elif type(event) is Terminator:
                self.on_terminator(event.terminator)

    def eof_received(self) -> None:
        """Driver: the peer closed its side; reports any held-back tail to :meth:`on_data`,
        then calls :meth:`on_eof` (unless the protocol is already closing)."""
        if not self.channel.eof:
            self.data_received(b"")
            if not (self._abort or self.channel.closing):
                self.on_eof()

    @property
    def peer_closed(self) -> bool:
        """True once the peer's EOF was received."""
        return self.channel.eof

    @property
    def buffered_output(self) -> int:
        """Driver: bytes queued for sending and not taken yet.

        Adapters stop reading from a peer while this is above their high-water
        mark, so a peer that sends without reading cannot grow it without bound.
        """
        return self.channel.buffered_output

    def take_output(self, max_bytes: int | None = None) -> bytes:
        """Driver: take the next output (see :meth:`Channel.data_to_send`)."""
        if self._abort:
            return b""
        return self.channel.data_to_send(max_bytes)

    def peek_output(self, max_bytes: int) -> bytes:
        """Driver: the next output, not taken (see :meth:`Channel.peek_output`)."""
        if self._abort:
            return b""
        return self.channel.peek_output(max_bytes)

    def consume_output(self, n: int) -> None:
        """Driver: *n* bytes of :meth:`peek_output` were sent."""
        self.channel.consume_output(n)

    def connection_lost(self) -> None:
        """Driver: the connection is gone; calls :meth:`on_close` once."""
        if not self._closed:
            self._closed = True
            self._wakeup = None
            self.on_close()
