"""The batch: the one fast path of the inbound half, kept apart with its invariants.

The one fast path is the *batch*, for a bytes terminator that has already ended a
frame since it was set (line protocols), and for a record kind's frames. Once the
parsing path has found a frame's terminator, the next window of the buffer is
split with ``bytes.split`` in one pass (under a record kind, by its reader's
``split_all`` loop), and its events or frames are handed out from a list. Its
invariants:

1. A batch is planned only by ``Inbound._parse`` (a delimiter's) or
   ``Inbound._record_batch`` (a record kind's), from the same reader
   result and under the same limits: it starts at a frame boundary, holds complete
   frames only, and stops before the first payload longer than the limit (which
   the parsing path then rejects). ``split`` finds the same matches as successive
   ``find`` calls (leftmost, non-overlapping), and ``split_all`` stops at every
   frame it cannot take alone, so the batch follows the same rules.
2. While a batch is out, the buffer's read offset already stands at the batch's
   end. Anything that needs the true position (a terminator change, new data,
   ``buffered_input``, a switch between events and frames) calls
   :meth:`Batching._settle`, which moves the offset back by the bytes of the items
   not handed out (a record batch: to where the frames handed out end, split
   again) and empties the list, so iterators handing it out stop.
3. The window doubles while batches are used up and shrinks to twice what a
   dropped batch delivered, so the work spent on dropped batches stays a constant
   factor of the work done (the first window is large: see ``FIRST_WINDOW``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from itertools import repeat
from typing import Any

from ._events import Data, Event, Terminator
from ._readers import Reader
from ._receivebuffer import ReceiveBuffer

__all__ = ["EMPTY", "FIRST_WINDOW", "MIN_WINDOW", "Batching", "event_pairs", "new_data"]

#: The exhausted iterator that stands for "no batch is out".
EMPTY: Iterator[Any] = iter(())
#: Window sizes, in bytes of buffer.
MIN_WINDOW = 64
MAX_WINDOW = 1 << 20
#: The window of a new channel: one read at the adapters' default size, so a line
#: protocol's first read is split in one pass. A protocol that changes terminators
#: at once wastes one split of what is buffered (a constant factor of its input),
#: and its window shrinks to what it uses (invariant 3).
FIRST_WINDOW = 1 << 16

# Events whose field is known to be valid (non-empty bytes) are built without
# running the attrs validator: the same frozen, slotted instances, made faster.
_new = object.__new__
_set_data = Data.__dict__["data"].__set__


def new_data(data: bytes) -> Data:
    """Return ``Data(data)`` for non-empty *data*, without running the validator."""
    event: Data = _new(Data)
    _set_data(event, data)
    return event


def event_pairs(payloads: list[bytes], end: Terminator) -> list[Any]:
    """A batch's events: each payload's :class:`Data` (none for an empty one), then *end*."""
    if b"" in payloads:
        lst: list[Any] = []
        for payload in payloads:
            if payload:
                lst.append(new_data(payload))
            lst.append(end)
        return lst
    # Every payload non-empty: the events made in bulk, interleaved by slicing.
    n = len(payloads)
    datas = list(map(_new, repeat(Data, n)))
    deque(map(_set_data, datas, payloads), maxlen=0)
    lst = [end] * (2 * n)
    lst[0::2] = datas
    return lst


class Batching:
    """The batch state of :class:`~asyncframe._inbound.Inbound` and the methods that keep it."""

    # Set up by Inbound.__init__ (and its terminator and parsing methods).
    _buf: ReceiveBuffer
    _reader: Reader
    _term: bytes
    _limit: int
    _frame_len: int
    _streak: int
    _batch: list[Any] | None
    _batch_frames: bool
    _events_it: Iterator[Event]
    _frames_it: Iterator[bytes]
    _batch_start: int
    _batch_end: int
    _window: int
    _record_limit: int
    _record_end: object
    _parse: Callable[..., Any]  # Inbound's parsing path

    def _position(self) -> tuple[int, int]:
        """The true read offset and frame length, counting back the batch items not handed out."""
        buf = self._buf
        lst = self._batch
        if lst is None:
            return buf.start, self._frame_len
        it = self._frames_it if self._batch_frames else self._events_it
        left: int = it.__length_hint__()  # type: ignore[union-attr]
        if not left:
            return buf.start, self._frame_len
        taken = len(lst) - left
        if self._record_end is not None:
            return self._record_position(lst, taken)[0], 0
        rest = lst[taken:]
        tlen = len(self._term)
        if self._batch_frames:
            return buf.start - sum(map(len, rest)) - left * tlen, 0
        back = sum(tlen if type(item) is Terminator else len(item.data) for item in rest)
        # Between a frame's Data and its Terminator, that Data is the frame so far.
        before = lst[taken - 1] if taken else None
        frame_len = len(before.data) if type(before) is Data else 0
        return buf.start - back, frame_len

    def _record_position(self, lst: list[Any], taken: int) -> tuple[int, int]:
        """Where the first *taken* items of a record batch end, and the start of the
        record whose payload they end with (its Terminator not handed out), or -1.

        Headers differ in length, so the records handed out are split again to
        find where they end: no more work than splitting them took, and, being
        complete, they split the same.
        """
        if self._batch_frames:
            done, open_record = taken, False
        else:
            # Every item is a Data or the kind's Terminator: count the records ended.
            done = sum(type(item) is not Data for item in lst[:taken])
            open_record = type(lst[taken - 1]) is Data
        reader: Any = self._reader
        buf = self._buf
        end = self._batch_start
        if done:
            end = reader.split_all(
                buf.data, end, self._limit, self._record_limit, done, self._batch_end
            )[1]
        if not open_record:
            return end, -1
        after = reader.split_all(buf.data, end, self._limit, self._record_limit, 1, self._batch_end)
        return after[1] - reader.tlen, end  # its payload's end: only the trailer is unread

    def _settle(self) -> None:
        """End the batch: put the read offset where its first item not handed out begins."""
        lst = self._batch
        if lst is None:
            return
        restart = -1
        if self._record_end is None:
            position, frame_len = self._position()
        else:
            it = self._frames_it if self._batch_frames else self._events_it
            left: int = it.__length_hint__()  # type: ignore[union-attr]
            position, frame_len = self._buf.start, 0
            if left:
                position, restart = self._record_position(lst, len(lst) - left)
        self._batch = None
        self._events_it = self._frames_it = EMPTY
        buf = self._buf
        if position == buf.start and restart < 0:
            self._window = min(2 * self._window, MAX_WINDOW)
            return
        lst.clear()  # iterators still handing the batch out stop here
        self._window = max(MIN_WINDOW, 2 * (position - self._batch_start))
        if restart >= 0:
            # A record's payload was handed out, its Terminator not: read the
            # record again up to there, so that the reader holds it in progress
            # exactly as the parsing path would have left it.
            buf.start = restart
            self._frame_len = 0
            self._parse(False)  # the payload's Data, again: dropped
            return
        buf.start = position
        self._frame_len = frame_len

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
        limit = self._limit
        # A window no longer than the limit cannot hold a frame over it.
        span = window if window <= limit else max(limit, MIN_WINDOW)
        wend = min(term_end + span, len(data))
        parts = bytes(data[term_end:wend]).split(term)
        end = wend - len(parts.pop())  # the unfinished tail stays unread
        if wend - term_end > limit and parts and max(map(len, parts)) > limit:
            cut = next(i for i, part in enumerate(parts) if len(part) > limit)
            del parts[cut:]
            end = term_end + sum(map(len, parts)) + cut * len(term)
        if not parts:
            end = term_end
            if frames:
                # The frame found is the only one: no batch to keep (nothing to
                # settle later), the frame is consumed as the parsing path would.
                buf.start = end
                self._frame_len = 0
                self._streak += 1
                return first
        parts.insert(0, first)
        lst: list[Any]
        if frames:
            lst = parts
        elif len(parts) > 1:
            lst = event_pairs(parts, self._reader.event)  # type: ignore[union-attr]
        elif first:
            # One frame (a request, say): its two events made here, a call saved.
            data_event = _new(Data)
            _set_data(data_event, first)
            lst = [data_event, self._reader.event]  # type: ignore[union-attr]
        else:
            lst = [self._reader.event]  # type: ignore[union-attr]
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
