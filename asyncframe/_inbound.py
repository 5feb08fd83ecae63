"""The inbound half of a channel: received bytes in, events or whole frames out.

Every reading API stands on one parsing path, :meth:`Inbound._parse`: it asks the
current reader (``_readers``) where the payload ends and whether the terminator is
decided, applies the frame limit (:meth:`Inbound._step`), and then reports one
event (:meth:`next_event`, :meth:`events`) or one whole frame (:meth:`frames`).

The one fast path is the *batch*, for a bytes terminator that has already ended a
frame since it was set (line protocols). Once the parsing path has found a frame's
terminator, the next window of the buffer is split with ``bytes.split`` in one
pass, and its events or frames are handed out from a list. Its invariants:

1. A batch is planned only by :meth:`Inbound._parse`, from the same reader
   result and under the same limit: it starts at a frame boundary, holds complete
   frames only, and stops before the first payload longer than the limit (which
   the parsing path then rejects). ``split`` finds the same matches as successive
   ``find`` calls (leftmost, non-overlapping), so the batch follows the same rules.
2. While a batch is out, the buffer's read offset already stands at the batch's
   end. Anything that needs the true position (a terminator change, new data,
   ``buffered_input``, a switch between events and frames) calls
   :meth:`Inbound._settle`, which moves the offset back by the bytes of the items
   not handed out and empties the list, so iterators handing it out stop.
3. The window doubles while batches are used up and shrinks to twice what a
   dropped batch delivered, so the work spent on dropped batches stays a constant
   factor of the work done.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterator
from itertools import repeat
from typing import Any, ClassVar, NoReturn

from ._errors import DataAfterEOF, FrameTooLong, ProtocolError
from ._events import NEED_DATA, ConnectionClosed, Data, Event, NeedData, Terminator, TerminatorSpec
from ._readers import CountReader, Reader, Scan, make_reader
from ._receivebuffer import ReceiveBuffer

__all__ = ["Inbound"]

_CLOSED = ConnectionClosed()
_EMPTY: Iterator[Any] = iter(())
_UNLIMITED = sys.maxsize
_UNSET = object()
_MIN_WINDOW = 64
_MAX_WINDOW = 1 << 20

# Events whose field is known to be valid (non-empty bytes) are built without
# running the attrs validator: the same frozen, slotted instances, made faster.
_new = object.__new__
_set_data = Data.__dict__["data"].__set__


def _make_data(data: bytes) -> Data:
    event: Data = _new(Data)
    _set_data(event, data)
    return event


class Inbound:
    """The inbound state machine: bytes in, :class:`Data`/:class:`Terminator` events out.

    :class:`~asyncframe.Channel` is an :class:`Inbound` with an outbound queue;
    the methods documented here are the inbound half of its API.
    """

    #: The buffer type; a test may swap in an instrumented ``bytearray`` subclass.
    _buffer_type: ClassVar[type[bytearray]] = bytearray

    def __init__(self, terminator: TerminatorSpec, max_frame_size: int | None) -> None:
        self._buf = ReceiveBuffer(self._buffer_type())
        self._eof = False
        self._max_frame_size = max_frame_size
        self._frame_len = 0  # payload reported since the last terminator
        self._skipping = False  # discarding a rejected frame through its terminator
        self._broken: str | None = None
        self._deferred: FrameTooLong | None = None
        # The batch: its list, which iterator hands it out, and where it lies.
        self._batch: list[Any] | None = None
        self._batch_frames = False
        self._events_it: Iterator[Event] = _EMPTY
        self._frames_it: Iterator[bytes] = _EMPTY
        self._batch_start = 0
        self._batch_end = 0
        self._window = _MIN_WINDOW
        self._spec: object = _UNSET
        self._install(terminator)

    # -- terminator ------------------------------------------------------------------

    def _install(self, spec: TerminatorSpec) -> None:
        """Make a normalized terminator current, from the next unread byte on."""
        if (
            spec == self._spec
            and type(spec) is not int
            and not self._skipping
            and self._broken is None
        ):
            return  # the same delimiter again: nothing changes, a batch may stay out
        self._settle()
        reader = make_reader(spec)
        self._reader: Reader = reader
        self._spec = spec
        self._skipping = False
        self._streak = 0  # frames ended since the terminator was set
        self._term = spec if type(spec) is bytes else b""  # batched when set
        self._term_event = Terminator(spec) if type(spec) is bytes else None
        self._declared = spec if type(reader) is CountReader else 0
        self._set_limit()

    def _set_limit(self) -> None:
        size = self._max_frame_size
        self._limit = size if size is not None and self._reader.limited else _UNLIMITED

    def _current_terminator(self) -> TerminatorSpec:
        """The current terminator (a running count reads the bytes still expected)."""
        return self._reader.spec(self._position()[0])

    # -- input -----------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes received from the peer; ``b""`` means the peer closed (EOF).

        Nothing is parsed here: call :meth:`next_event` (or iterate :meth:`events`
        or :meth:`frames`) to read what the bytes complete. More data after EOF
        raises :exc:`~asyncframe.DataAfterEOF`; a repeated ``b""`` is ignored.
        """
        if type(data) is not bytes:
            if isinstance(data, str):
                raise TypeError("data must be a bytes-like object, not str (encode it first)")
            try:
                memoryview(data).release()
            except TypeError:
                raise TypeError(
                    f"data must be a bytes-like object, not {type(data).__name__}"
                ) from None
        if self._eof:
            if len(data):
                raise DataAfterEOF(
                    f"receive_data() got {len(data)} bytes after EOF (receive_data(b'')); "
                    "a closed stream cannot receive more data"
                )
            return
        self._check_usable()
        if not len(data):
            self._eof = True
            return
        self._settle()
        shift = self._buf.append(data)
        if shift:
            self._reader.rebase(shift)

    @property
    def eof(self) -> bool:
        """True once :meth:`receive_data` was given ``b""``."""
        return self._eof

    @property
    def buffered_input(self) -> int:
        """How many received bytes have not been reported yet."""
        return len(self._buf.data) - self._position()[0]

    @property
    def trailing_data(self) -> bytes:
        """After EOF, the unread bytes no terminator ended; ``b""`` before EOF."""
        return self._unread() if self._eof else b""

    def _unread(self) -> bytes:
        """The received bytes not reported yet."""
        return bytes(self._buf.data[self._position()[0] :])

    def _discard_input(self) -> None:
        """Drop every unread byte; the terminator (and a running count) stays as it is."""
        spec = self._current_terminator()
        self._settle()
        self._buf.clear()
        self._frame_len = 0
        self._spec = _UNSET  # a fresh reader for the empty buffer
        self._skipping = False
        self._install(spec)

    # -- the batch ---------------------------------------------------------------------

    def _position(self) -> tuple[int, int]:
        """The true read offset and frame length, counting back the batch items not handed out."""
        buf = self._buf
        lst = self._batch
        if lst is None:
            return buf.start, self._frame_len
        it = self._frames_it if self._batch_frames else self._events_it
        left: int = it.__length_hint__()  # type: ignore[attr-defined]
        if not left:
            return buf.start, self._frame_len
        taken = len(lst) - left
        rest = lst[taken:]
        tlen = len(self._term)
        if self._batch_frames:
            return buf.start - sum(map(len, rest)) - left * tlen, 0
        back = sum(tlen if type(item) is Terminator else len(item.data) for item in rest)
        # Between a frame's Data and its Terminator, that Data is the frame so far.
        before = lst[taken - 1] if taken else None
        frame_len = len(before.data) if type(before) is Data else 0
        return buf.start - back, frame_len

    def _settle(self) -> None:
        """End the batch: put the read offset where its first item not handed out begins."""
        lst = self._batch
        if lst is None:
            return
        position, frame_len = self._position()
        self._batch = None
        self._events_it = self._frames_it = _EMPTY
        buf = self._buf
        if position == buf.start:
            self._window = min(2 * self._window, _MAX_WINDOW)
            return
        lst.clear()  # iterators still handing the batch out stop here
        buf.start = position
        self._frame_len = frame_len
        self._window = max(_MIN_WINDOW, 2 * (position - self._batch_start))

    def _plan(self, pay_end: int, term_end: int, frames: bool, window: int) -> Any:
        """Start a batch with the frame the parsing path just found (its terminator
        from *pay_end* to *term_end*) and the complete frames of the next *window* bytes.

        Returns the first item to hand out; the rest are kept as the batch.
        """
        buf = self._buf
        data = buf.data
        term = self._term
        start = buf.start
        first = bytes(data[start:pay_end])
        wend = min(term_end + window, len(data))
        parts = bytes(data[term_end:wend]).split(term)
        end = wend - len(parts.pop())  # the unfinished tail stays unread
        if parts and max(map(len, parts)) > self._limit:
            limit = self._limit
            cut = next(i for i, part in enumerate(parts) if len(part) > limit)
            del parts[cut:]
            end = term_end + sum(map(len, parts)) + cut * len(term)
        if not parts:
            end = term_end
        parts.insert(0, first)
        lst: list[Any]
        if frames:
            lst = parts
        elif b"" in parts:
            term_event = self._term_event
            lst = []
            for part in parts:
                if part:
                    lst.append(_make_data(part))
                lst.append(term_event)
        else:
            n = len(parts)
            datas = list(map(_new, repeat(Data, n)))
            deque(map(_set_data, datas, parts), maxlen=0)
            lst = [self._term_event] * (2 * n)
            lst[0::2] = datas
        it = iter(lst)
        item = next(it)
        buf.start = end
        self._frame_len = 0
        self._streak += 1
        self._batch = lst
        self._batch_frames = frames
        self._batch_start = start
        self._batch_end = end
        if frames:
            self._frames_it = it
        else:
            self._events_it = it
        return item

    # -- the parsing path --------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise ProtocolError(self._broken)

    def _parse(self, frames: bool, window: int = 0) -> Any:
        """The one parsing path: the next event, or the next whole frame (None: need data).

        An exception other than :exc:`FrameTooLong` raised in here (even
        ``KeyboardInterrupt``) leaves the channel in an error state: every later
        call raises :exc:`ProtocolError` saying why.
        """
        self._check_usable()
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            raise deferred
        try:
            self._settle()
            found = self._step()
            buf = self._buf
            if found is None:
                return None if frames else self._idle()
            pay_end, term_end, event = found
            if term_end >= 0 and self._streak and self._term and not self._frame_len:
                return self._plan(pay_end, term_end, frames, window or self._window)
            if frames:
                if term_end < 0:
                    return None
                frame = buf.take(pay_end)
                self._frame_done(term_end)
                return frame
            if pay_end > buf.start:
                self._frame_len += pay_end - buf.start
                return _make_data(buf.take(pay_end))
            if term_end < 0:
                return self._idle()
            self._frame_done(term_end)
            return event
        except FrameTooLong:
            raise
        except BaseException as exc:
            self._break(exc)
            raise

    def _step(self) -> Scan | None:
        """Scan the unread bytes; apply the frame limit; None while a skip needs data."""
        if self._skipping and not self._skip():
            return None
        buf = self._buf
        data = buf.data
        start = buf.start
        found = self._reader.scan(data, start, len(data), self._eof)
        total = self._frame_len + found[0] - start
        limit = self._limit
        if total > limit or self._declared > limit:
            self._reject(total, found)
        return found

    def _reject(self, total: int, found: Scan) -> NoReturn:
        """Drop the frame over the limit (or skip it as it arrives) and raise FrameTooLong."""
        pay_end, term_end, event = found
        limit = self._limit
        size = self._declared if self._declared > limit else total
        complete = term_end >= 0
        if complete:
            self._frame_done(term_end)
        else:
            self._buf.start = pay_end
            self._frame_len = 0
            self._skipping = True
        raise FrameTooLong(size, limit, complete=complete)

    def _skip(self) -> bool:
        """Discard a rejected frame's bytes through its terminator; True once it is gone."""
        buf = self._buf
        data = buf.data
        pay_end, term_end, event = self._reader.scan(data, buf.start, len(data), self._eof)
        if term_end < 0:
            buf.start = pay_end
            return False
        self._skipping = False
        self._frame_done(term_end)
        return True

    def _frame_done(self, term_end: int) -> None:
        """Consume a frame's terminator (up to *term_end*): a new frame begins, and a
        completed count gives way to None."""
        self._buf.start = term_end
        self._frame_len = 0
        self._streak += 1
        if type(self._reader) is CountReader:
            self._install(None)

    def _idle(self) -> ConnectionClosed | NeedData:
        buf = self._buf
        if self._eof and buf.start >= len(buf.data):
            return _CLOSED
        return NEED_DATA

    def _break(self, exc: BaseException) -> None:
        self._broken = (
            f"the channel's input is unusable: parsing was interrupted by "
            f"{type(exc).__name__}({exc!s}) and its state is unknown"
        )
        self._batch = None
        self._events_it = self._frames_it = _EMPTY

    # -- the reading APIs --------------------------------------------------------------

    def next_event(self) -> Event | NeedData:
        """Return the next event, or :data:`~asyncframe.NEED_DATA` if more bytes are needed.

        Parsing happens here, so a terminator set between two calls applies from
        the very next unread byte. After EOF has been reported this keeps
        returning :class:`~asyncframe.ConnectionClosed`. Raises
        :exc:`~asyncframe.FrameTooLong` as soon as the current frame's payload
        exceeds :attr:`max_frame_size`.
        """
        for event in self._events_it:
            return event
        event_or_none: Event | NeedData = self._parse(False)
        return event_or_none

    def events(self) -> Iterator[Event]:
        """Iterate over the events :meth:`next_event` has to report, lazily.

        Stops where :meth:`next_event` would return :data:`~asyncframe.NEED_DATA`,
        or after yielding :class:`~asyncframe.ConnectionClosed`.
        """
        next_event = self.next_event
        while True:
            event = next_event()
            if event is NEED_DATA:
                return
            yield event
            if type(event) is ConnectionClosed:
                return

    def frames(self) -> Iterator[bytes]:
        """Iterate over the complete frames in the buffer, terminator excluded.

        The fast path for line protocols. It stops when more data is needed;
        after EOF an unterminated tail stays in :attr:`trailing_data`. A frame
        longer than :attr:`max_frame_size` raises :exc:`~asyncframe.FrameTooLong`
        (an unterminated one as soon as its payload exceeds the limit); the
        channel stays usable and the next call goes on after the rejected frame.
        A terminator set while iterating applies from the next unread byte, as
        with :meth:`next_event`.
        """
        while True:
            for frame in self._frames_it:  # noqa: UP028 - resumes faster than `yield from`
                yield frame
            frame = self._parse(True)
            if frame is None:
                return
            yield frame

    def complete_frames(self) -> list[bytes]:
        """Return every complete frame in the buffer under the current terminator, as a list.

        What ``list(frames())`` returns, faster: for a bytes terminator the whole
        buffer is split at once. If a frame is over :attr:`max_frame_size`, the
        frames before it are returned and the next call raises
        :exc:`~asyncframe.FrameTooLong` for it.
        """
        out: list[bytes] = []
        out += self._frames_it
        try:
            while (frame := self._parse(True, _UNLIMITED)) is not None:
                out.append(frame)
                out += self._frames_it
        except FrameTooLong as exc:
            if not out:
                raise
            self._deferred = exc
        return out
