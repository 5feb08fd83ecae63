"""The inbound half of a channel: received bytes in, events or whole frames out.

Every reading API stands on one parsing path, :meth:`Inbound._parse`: it asks the
current reader (``_readers``) where the payload ends and whether the terminator is
decided, applies the frame limit, and then reports one
event (:meth:`next_event`, :meth:`events`) or one whole frame (:meth:`frames`).

Which reader and limit are current, and what becomes of a frame over the limit,
is ``_terminator``'s; the one fast path, the *batch*, lives in ``_batch`` with
its invariants.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, ClassVar, NoReturn

from ._batch import EMPTY, FIRST_WINDOW, MAX_WINDOW, MIN_WINDOW, _new, _set_data, event_pairs
from ._errors import DataAfterEOF, FrameTooLong, ProtocolError
from ._events import NEED_DATA, ConnectionClosed, Data, Event, NeedData, TerminatorSpec
from ._readers import HEADER, RAW, BytesReader, CountReader, RecordReader
from ._receivebuffer import ReceiveBuffer
from ._terminator import UNLIMITED, Terminating

__all__ = ["Inbound"]

_CLOSED = ConnectionClosed()
_SKIPPED = object()  # what a rejected frame's end yields: nothing, parse on


class Inbound(Terminating):
    """The inbound state machine: bytes in, :class:`Data`/:class:`Terminator` events out.

    :class:`~asyncframe.Channel` is an :class:`Inbound` with an outbound queue;
    the methods documented here are the inbound half of its API.
    """

    #: The buffer type; a test may swap in an instrumented ``bytearray`` subclass.
    _buffer_type: ClassVar[type[bytearray]] = bytearray

    def __init__(
        self,
        terminator: TerminatorSpec,
        max_frame_size: int | None,
        max_record_size: int | None = None,
    ) -> None:
        self._buf = ReceiveBuffer(self._buffer_type())
        self._eof = False
        self._use_max_frame_size(max_frame_size)
        self._use_max_record_size(max_record_size)
        self._frame_len = 0  # payload reported since the last terminator
        self._skipping = False  # discarding a rejected frame through its terminator
        # What the next parse raises instead: the error state's message (raised as
        # ProtocolError by every later call) or a FrameTooLong that
        # complete_frames() deferred (raised once). One attribute, one check per parse.
        self._error: str | FrameTooLong | None = None
        # The batch: its list, which iterator hands it out, and where it lies.
        self._batch: list[Any] | None = None
        self._batch_frames = False
        self._events_it: Iterator[Event] = EMPTY
        self._frames_it: Iterator[bytes] = EMPTY
        self._batch_start = 0
        self._batch_end = 0
        self._window = FIRST_WINDOW
        self._term = b""
        self._record_end: object = None  # the Terminator event a record kind's record ends with
        self._delimiters: dict[bytes, BytesReader] = {}
        self._counter = CountReader(0)
        self._install(terminator)

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
                view = memoryview(data)
            except TypeError:
                raise TypeError(
                    f"data must be a bytes-like object, not {type(data).__name__}"
                ) from None
            if not view.c_contiguous or view.itemsize != 1 or view.ndim != 1:
                # A strided or multi-byte-item buffer: its bytes, in order (the
                # buffer joins and len() below count bytes of a flat one).
                data = view.tobytes()
            view.release()
        if self._eof:
            if len(data):
                raise DataAfterEOF(
                    f"receive_data() got {len(data)} bytes after EOF (receive_data(b'')); "
                    "a closed stream cannot receive more data"
                )
            return
        if type(self._error) is str:
            raise ProtocolError(self._error)
        if not len(data):
            self._eof = True
            return
        if self._batch is not None:
            self._settle()
        shift = self._buf.append(data)
        if shift:
            reader = self._reader
            reader.rebase(shift)
            # Delimiters set aside keep valid offsets too, so setting one again
            # costs nothing (see set_terminator).
            for cached in self._delimiters.values():
                if cached is not reader:
                    cached.rebase(shift)

    @property
    def eof(self) -> bool:
        """True once :meth:`receive_data` was given ``b""``."""
        return self._eof

    @property
    def failed(self) -> bool:
        """True once the input is unusable (malformed, or its parsing interrupted):
        every reading call raises :exc:`~asyncframe.ProtocolError`."""
        return type(self._error) is str

    @property
    def raw(self) -> bool:
        """True while the terminator in force is ``None``: the bytes are a stream, not
        frames (what ``get_terminator() is None`` says, without building the answer)."""
        return self._reader is RAW

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
        for cached in self._delimiters.values():  # their offsets pointed into the old bytes
            cached.reset()
        self._frame_len = 0
        self._term = b""  # a fresh reader for the empty buffer
        self._skipping = False
        self._install(spec)

    # -- the parsing path --------------------------------------------------------------

    def _parse(self, frames: bool, window: int = 0) -> Any:
        """The one parsing path: the next event, or the next whole frame (None: need data).

        It asks the reader where the payload ends and whether the terminator is
        decided, applies the frame limit (or drops what is left of a rejected
        frame), then consumes one event's bytes (or one frame's). Where a frame
        ends is decided here only. An exception other than :exc:`FrameTooLong`
        raised in here (even ``KeyboardInterrupt``) leaves the channel in an error
        state: every later call raises :exc:`ProtocolError`.
        """
        if self._error is not None:
            self._raise_error()
        try:
            if self._batch is not None:
                self._settle()
            buf = self._buf
            while True:
                data = buf.data
                start = buf.start
                pay_end, term_end, event = self._reader.scan(data, start, len(data), self._eof)
                result: Any
                if event is HEADER:
                    self._header(term_end)
                    continue
                if self._skipping:  # the rest of a rejected frame, dropped
                    if term_end < 0:
                        buf.start = pay_end
                        return None if frames else self._idle()
                    self._skipping = False
                    result = _SKIPPED
                else:
                    total = self._frame_len + pay_end - start
                    if total > self._limit:
                        result = self._reject(total, pay_end, term_end)  # raises unless complete
                    elif term_end < 0 and (frames or pay_end == start):  # nothing to report
                        if frames:
                            return None
                        return self._idle() if self._eof else NEED_DATA
                    elif term_end >= 0 and self._streak and self._term and not self._frame_len:
                        return self._plan(pay_end, term_end, frames, window or self._window)
                    elif frames:
                        result = bytes(data[start:pay_end])
                    elif pay_end > start:  # payload so far, or the payload before its terminator
                        self._frame_len = total
                        buf.start = pay_end
                        item = _new(Data)
                        _set_data(item, bytes(data[start:pay_end]))
                        return item
                    else:
                        result = event
                # The frame ends: its terminator is consumed, a new frame begins,
                # and a completed count gives way to None (what set_terminator(None)
                # does, less its checks: no batch is out under a count, no frame is
                # being skipped, and None has no limit).
                buf.start = term_end
                self._frame_len = 0
                self._streak += 1
                if self._reader is self._counter:
                    self._reader = RAW
                    self._limit = UNLIMITED
                elif event is self._record_end:
                    self._reader.rec_end = -1  # type: ignore[union-attr]  # see RecordReader
                if result is _SKIPPED:
                    continue
                if type(result) is FrameTooLong:
                    raise result
                return result
        except FrameTooLong:
            raise
        except BaseException as exc:
            self._break(exc)
            raise

    def _header(self, body: int) -> None:
        """Consume a record's header (it ends at *body*), checking the size it announces."""
        self._buf.start = body
        size: int = self._reader.stop - body  # type: ignore[union-attr]
        if size > self._record_limit:
            # Rejected at once, whatever has arrived of it: the payload and its
            # trailer are skipped as they come.
            self._skipping = True
            self._frame_len = 0
            limit = self._max_record_size
            assert limit is not None
            raise FrameTooLong(size, limit, complete=False, limit_name="max_record_size")
        # The payload counts against the record limit only, which it was checked
        # against just now: the frame starts -size bytes "into" the line limit, so
        # it never reaches it, and the next frame starts at 0 again.
        self._frame_len = -size

    def _raise_error(self) -> NoReturn:
        error = self._error
        if type(error) is str:
            raise ProtocolError(error)
        assert isinstance(error, FrameTooLong)
        self._error = None
        raise error

    def _idle(self) -> ConnectionClosed | NeedData:
        buf = self._buf
        if self._eof and buf.start >= len(buf.data):
            return _CLOSED
        return NEED_DATA

    def _break(self, exc: BaseException) -> None:
        self._error = (
            f"the channel's input is unusable: parsing was interrupted by "
            f"{type(exc).__name__}({exc!s}) and its state is unknown"
        )
        self._batch = None
        self._events_it = self._frames_it = EMPTY

    # -- the reading APIs --------------------------------------------------------------

    def next_event(self) -> Event | NeedData:
        """Return the next event, or :data:`~asyncframe.NEED_DATA` if more bytes are needed.

        Parsing happens here, so a terminator set between two calls applies from
        the very next unread byte. After EOF has been reported this keeps
        returning :class:`~asyncframe.ConnectionClosed`. Raises
        :exc:`~asyncframe.FrameTooLong` as soon as the current frame's payload
        exceeds :attr:`max_frame_size`.
        """
        if self._batch is not None:
            for event in self._events_it:
                return event
        if self._record_end is not None and self._reader.records_only:  # type: ignore[union-attr]
            return self._next_record_event()
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
        # frame_runs() flattened, written out: one generator frame per frame that is
        # not batched (length-prefixed protocols) instead of two.
        parse = self._parse
        frame: bytes | None
        while True:
            if self._batch is not None:
                for frame in self._frames_it:
                    yield frame
            frame = parse(True) if self._record_end is None else self._next_record()
            if frame is None:
                return
            yield frame

    def _next_record(self) -> bytes | None:
        """The next frame under a record kind: from a new batch (see
        :meth:`_record_batch`), else the parsing path's one frame."""
        frame = self._record_batch(True)
        return self._parse(True) if frame is None else frame  # type: ignore[no-any-return]

    def _next_record_event(self) -> Event | NeedData:
        """The next event under a record kind whose every frame is a record: from a
        new batch of events (see :meth:`_record_batch`), else the parsing path's."""
        event = self._record_batch(False)
        return self._parse(False) if event is None else event  # type: ignore[no-any-return]

    def _record_batch(self, frames: bool) -> Any:
        """Split the records of the next window in one loop and hand out the first
        of them; None where the parsing path has to decide.

        At a frame boundary that no search has started into, the reader splits
        every complete record (and line) of the window; the rest are kept as a
        batch (``_batch``'s invariants hold for it; a record batch is settled by
        splitting again what was handed out). As events, each payload is its
        :class:`Data` (none for an empty one), then the kind's :class:`Terminator`.
        """
        if self._batch is not None:
            self._settle()
        reader: Any = self._reader
        buf = self._buf
        if (
            self._error is not None
            or self._frame_len
            or self._skipping
            or not reader.idle(buf.start)
        ):
            return None
        start = buf.start
        window = self._window
        got, pos = reader.split_all(
            buf.data, start, self._limit, self._record_limit, UNLIMITED, start + window
        )
        if len(got) < 2:
            # Nothing more fitted the window (or came): widen it, as a batch used
            # up would, so that records larger than it are batched later.
            self._window = min(2 * window, MAX_WINDOW)
        if not got:
            return None
        buf.start = pos
        self._streak += 1
        if frames and len(got) == 1:
            return got[0]  # a batch of one: nothing to keep
        lst = got if frames else event_pairs(got, self._record_end)  # type: ignore[arg-type]
        # Handed out as Batching._plan hands out a delimiter's batch. Not one shared
        # helper: _plan runs once per request on the streaming path, whose call
        # count tests/core/test_call_budget.py holds.
        it = iter(lst)
        item = next(it)
        self._batch = lst
        self._batch_frames = frames
        self._batch_start = start
        self._batch_end = pos
        if frames:
            self._frames_it = it
        else:
            self._events_it = it
        return item

    def frame_runs(self) -> Iterator[Iterable[bytes]]:
        """Iterate over the complete frames in runs: each run is the rest of a batch, or one frame.

        What :meth:`frames` yields, grouped: a loop over a run costs what a loop
        over a list does (the whole-frame dispatch of a
        :class:`~asyncframe.Handler` uses it). The run stops as soon
        as the batch is settled (a terminator change, say), so a frame split under
        a terminator no longer in force is never handed out; the frames after the
        last one taken stay unread.
        """
        parse = self._parse
        while True:
            if self._batch is not None:
                yield self._frames_it
            frame = parse(True) if self._record_end is None else self._next_record()
            if frame is None:
                return
            yield (frame,)

    def _split_all(self, max_frames: int | None) -> list[bytes]:
        """The complete frames of the buffer under its delimiter, split in one pass
        (at most *max_frames*), or ``[]`` to leave the buffer to the general path.

        Called only at a frame boundary with no batch out: then the delimiter's
        reader holds no match past the read offset that ``split`` would not find
        too, and once the offset moves past its search offset its next scan starts
        afresh (see ``BytesReader``), so nothing else needs telling.
        """
        buf = self._buf
        data = buf.data
        start = buf.start
        unread = len(data) - start
        term = self._term
        if unread < len(term):
            return []  # not even one delimiter: the general path holds it back
        frames = bytes(data[start:] if start else data).split(term)
        tail = len(frames.pop())
        if not frames:
            return []
        limit = self._limit
        if unread > limit and (tail > limit or max(map(len, frames)) > limit):
            return []
        if max_frames is not None and len(frames) > max_frames:
            del frames[max_frames:]
            buf.start = start + sum(map(len, frames)) + len(frames) * len(term)
        else:
            buf.start = len(data) - tail
        self._streak += len(frames)
        return frames

    def _split_records(self, wanted: int) -> list[bytes]:
        """complete_frames() under a record kind: at each frame boundary that no
        search has started into, every complete record (and line) split in one
        loop by the reader; where it stops (an incomplete frame, a limit, a
        malformed header) one frame of the general path, and so on.

        Each stop hands the general path one frame, which it scans once more
        (a constant factor), and leaves the reader not idle if that frame is
        incomplete, so a frame trickling in is not split again and again.
        """
        if self._batch is not None:
            self._settle()  # a batch frames() left: its frames are read again from here
        reader: Any = self._reader
        buf = self._buf
        out: list[bytes] = []
        try:
            while len(out) < wanted:
                if (
                    self._error is None
                    and not self._frame_len
                    and not self._skipping
                    and reader.idle(buf.start)
                ):
                    start = buf.start
                    if wanted == UNLIMITED:
                        got, buf.start = reader.split_all(
                            buf.data, start, self._limit, self._record_limit, UNLIMITED, UNLIMITED
                        )
                    else:
                        # At most *wanted* frames: copy no more than a window of the
                        # buffer, the window sized from what the last call took (as
                        # a batch's), so that frames left unread are not copied
                        # again and again.
                        window = self._window
                        got, buf.start = reader.split_all(
                            buf.data,
                            start,
                            self._limit,
                            self._record_limit,
                            wanted - len(out),
                            start + window,
                        )
                        if len(out) + len(got) == wanted and buf.start < len(buf.data):
                            self._window = max(MIN_WINDOW, 2 * (buf.start - start))
                        else:
                            self._window = min(2 * window, MAX_WINDOW)
                    if got:
                        out += got
                        self._streak += len(got)
                        if buf.start == len(buf.data):
                            break  # the buffer is used up: no frame can follow
                        continue
                frame = self._parse(True)
                if frame is None:
                    break
                out.append(frame)
        except FrameTooLong as exc:
            if not out:
                raise
            self._error = exc
        except ProtocolError:
            # The channel is in its error state: the next call raises it.
            if not out:
                raise
        return out

    def complete_frames(self, max_frames: int | None = None) -> list[bytes]:
        """Return every complete frame in the buffer under the current terminator, as a list.

        What ``list(frames())`` returns, faster: for a bytes terminator the whole
        buffer is split at once. With *max_frames*, at most that many frames are
        returned and the rest stay unread (a terminator set before the next call
        applies to them). If a frame is over :attr:`max_frame_size`, the frames
        before it are returned and the next call raises
        :exc:`~asyncframe.FrameTooLong` for it.
        """
        # The engine calls this twice a read with an int: one type check for it.
        if max_frames is not None and (type(max_frames) is not int or max_frames < 1):
            if isinstance(max_frames, bool) or not isinstance(max_frames, int):
                raise TypeError(
                    f"max_frames must be an int or None, not {type(max_frames).__name__}"
                )
            if max_frames < 1:
                raise ValueError(f"max_frames must be >= 1, not {max_frames}")
        if (
            self._term
            and self._batch is None
            and self._error is None
            and not self._frame_len
            and not self._skipping
        ):
            # A delimiter, at a frame boundary, no batch out: the buffer split at
            # once (one copy of the unread bytes, one split, in C). Whatever this
            # cannot decide alone (a frame or an unterminated tail over the limit)
            # goes to the general path below, which then finds the same frames.
            buf = self._buf
            if buf.start == len(buf.data):
                return []  # nothing unread: no frame ends under a delimiter
            frames = self._split_all(max_frames)
            if frames:
                return frames
        if max_frames is None:
            wanted, window = UNLIMITED, UNLIMITED
        else:
            # Split no further ahead than the batch window: frames left over wait
            # in the batch, and a terminator change would drop them unreported.
            wanted, window = max_frames, 0
        out: list[bytes] = []
        if isinstance(self._reader, RecordReader):
            buf = self._buf
            if (
                buf.start == len(buf.data)
                and self._batch is None
                and self._error is None
                and self._reader.rec_end < 0
            ):
                # Nothing unread and no record open (one with no trailer may be
                # open with every byte read: its end is still to report).
                return out
            return self._split_records(wanted)
        out += islice(self._frames_it, wanted)
        try:
            while len(out) < wanted and (frame := self._parse(True, window)) is not None:
                out.append(frame)
                out += islice(self._frames_it, wanted - len(out))
        except FrameTooLong as exc:
            if not out:
                raise
            self._error = exc
        except ProtocolError:
            # The channel is in its error state: the next call raises it.
            if not out:
                raise
        return out
