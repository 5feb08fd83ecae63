"""``Channel``: the sans-IO state machine that joins the inbound and outbound halves."""

from __future__ import annotations

from ._events import TerminatorSpec
from ._framing import DEFAULT_MAX_FRAME_SIZE, normalize_terminator
from ._inbound import Inbound
from ._producers import OutputQueue
from ._records import DEFAULT_MAX_RECORD_SIZE

__all__ = ["Channel"]


def _check_size(value: object, name: str, *, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "an int or None" if allow_none else "an int"
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {value}")
    return value


class Channel(Inbound):
    """A terminator-framed connection as a pure state machine.

    Feed it received bytes with :meth:`receive_data` and read
    :class:`~asyncframe.Data` / :class:`~asyncframe.Terminator` /
    :class:`~asyncframe.ConnectionClosed` events with :meth:`next_event`,
    :meth:`events` or, for whole frames, :meth:`frames`. Queue output with
    :meth:`push` and :meth:`push_with_producer`, and hand what
    :meth:`data_to_send` (or :meth:`peek_output` / :meth:`consume_output`) returns
    to your transport. A :class:`Channel` does no I/O: it runs in any framework.

    :param terminator: the initial terminator, as :meth:`set_terminator` takes it.
    :param max_frame_size: the longest frame payload accepted, in bytes, by every
        reading API (``None``: no limit); see :attr:`max_frame_size`.
    :param max_record_size: the longest counted payload accepted, in bytes (an
        int terminator's count, a record's announced size; ``None``: no limit);
        see :attr:`max_record_size`.
    """

    def __init__(
        self,
        terminator: TerminatorSpec = b"\r\n",
        *,
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
        max_record_size: int | None = DEFAULT_MAX_RECORD_SIZE,
    ) -> None:
        spec = normalize_terminator(terminator)
        size = _check_size(max_frame_size, "max_frame_size", allow_none=True)
        record_size = _check_size(max_record_size, "max_record_size", allow_none=True)
        self._out = OutputQueue()
        super().__init__(spec, size, record_size)

    def __repr__(self) -> str:
        return (
            f"<Channel terminator={self.terminator!r} buffered={self.buffered_input} "
            f"eof={self.eof} output_items={len(self._out)} "
            f"closing={self._out.closing}>"
        )

    # -- inbound ---------------------------------------------------------------------

    @property
    def terminator(self) -> TerminatorSpec:
        """The current terminator.

        Bytes, a tuple of bytes, ``None``, an int or a record kind. While a byte
        count runs this reads the bytes still expected, and ``None`` once it
        completed; a record kind reads itself, record after record.
        Setting it is :meth:`set_terminator`.
        """
        return self._current_terminator()

    @terminator.setter
    def terminator(self, terminator: TerminatorSpec) -> None:
        self.set_terminator(terminator)

    def get_terminator(self) -> TerminatorSpec:
        """Return the current terminator (see :attr:`terminator`)."""
        return self._current_terminator()

    @property
    def max_frame_size(self) -> int | None:
        """The longest frame payload accepted, in bytes (``None``: no limit).

        Held-back bytes (a possible start of the terminator) do not count, so the
        outcome never depends on how the input was split. :meth:`next_event` and
        :meth:`events` raise :exc:`~asyncframe.FrameTooLong` as soon as the payload
        since the last terminator exceeds it (the :class:`~asyncframe.Data` already
        returned for that frame total at most this many bytes); :meth:`frames`
        raises it instead of yielding a longer frame; a byte count above it fails
        at once. The channel then skips the rest of the frame through its
        terminator and goes on. With no terminator (``None``) no limit applies.
        """
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: int | None) -> None:
        self._reset_limit(_check_size(value, "max_frame_size", allow_none=True))

    @property
    def max_record_size(self) -> int | None:
        """The longest counted payload accepted, in bytes (``None``: no limit).

        It bounds what a count announces: an int terminator's count and the size
        a record kind's header announces (:class:`~asyncframe.RecordKind`), both
        of which fail at once with :exc:`~asyncframe.FrameTooLong` (its
        ``limit_name`` is ``"max_record_size"``) and are then skipped as they
        arrive. :attr:`max_frame_size` still bounds delimited frames, such as the
        lines of :class:`~asyncframe.MarkedLines`, so a server can keep short lines
        and accept large values. A new value applies to a running count and to
        every later header.
        """
        return self._max_record_size

    @max_record_size.setter
    def max_record_size(self, value: int | None) -> None:
        self._reset_record_limit(_check_size(value, "max_record_size", allow_none=True))

    # -- outbound --------------------------------------------------------------------

    @property
    def output(self) -> OutputQueue:
        """The outbound queue, for the connection engine (:class:`~asyncframe.Driver`)
        and a :class:`~asyncframe.Handler`'s pushes; everyone else uses the methods below."""
        return self._out

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data* (any bytes-like object) for sending.

        ``bytes`` are queued as they are; mutable buffers are copied once.
        """
        self._out.push(data)

    def push_with_producer(self, producer: object) -> None:
        """Queue a producer: an object whose ``more()`` returns bytes, ``b""`` when done.

        Bytes-like objects and iterators (or iterables) of bytes are accepted too.
        A producer is pulled lazily: only when output is asked for, and only as
        much as is asked.
        """
        self._out.push_producer(producer)

    def close_when_done(self) -> None:
        """Ask to close once everything queued so far has been sent.

        :attr:`wants_close` becomes true when that point is reached; queuing more
        output afterwards raises :exc:`~asyncframe.SendAfterClose`.
        """
        self._out.close_when_done()

    @property
    def wants_close(self) -> bool:
        """True when :meth:`close_when_done` was called and all output before it is taken."""
        return self._out.wants_close

    @property
    def closing(self) -> bool:
        """True once :meth:`close_when_done` was called, or the connection closed."""
        return self._out.closing

    @property
    def buffered_output(self) -> int:
        """How many bytes are queued for sending and not taken yet.

        Producers count only for what they have handed out so far: this is what the
        queue holds in memory, the figure to watch for backpressure.
        """
        return self._out.buffered

    def has_output(self) -> bool:
        """Return true if output is queued (a producer may still turn out to be empty)."""
        return self._out.has_output()

    def data_to_send(self, max_bytes: int | None = None) -> bytes:
        """Take and return the next output, at most *max_bytes* bytes (``None``: all).

        For transports that accept whatever they are given (asyncio, trio's
        ``send_all``). Returns ``b""`` when nothing is queued. With ``None``,
        producers are drained completely; pass *max_bytes* to bound memory.
        """
        size = _check_size(max_bytes, "max_bytes", allow_none=True)
        return self._out.take(size)

    def peek_output(self, max_bytes: int) -> bytes:
        """Return up to *max_bytes* of the next output without taking it.

        For sockets with partial writes: send what this returns, then call
        :meth:`consume_output` with the number of bytes the socket accepted.
        """
        size = _check_size(max_bytes, "max_bytes", allow_none=False)
        return self._out.peek(size)

    def consume_output(self, n: int) -> None:
        """Mark the first *n* bytes last returned by :meth:`peek_output` as sent."""
        size = _check_size(n, "n", allow_none=False)
        assert size is not None
        self._out.consume(size)

    def discard_buffers(self) -> None:
        """Drop all pending input and output, including a pending close (emergencies only)."""
        self._discard_input()
        self._out.clear()
