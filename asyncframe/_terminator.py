"""The current terminator: its reader, the frame limit under it, and where frames end.

A channel reads under one terminator at a time. Setting one picks its reader from
``_readers.READERS`` (reusing the channel's delimiters and its one byte counter)
and the payload limit that goes with it: ``max_frame_size`` for a delimiter or a
count, none for ``None`` (a stream, not frames), and an immediate failure for a
count declared over the limit. The parsing path (``_inbound``) calls back here when
a frame ends (a completed count gives way to ``None``) and when a frame is over
the limit (it is dropped, or skipped as it arrives, through its terminator).
"""

from __future__ import annotations

import sys
from typing import NoReturn

from ._batch import Batching
from ._errors import FrameTooLong
from ._events import TerminatorSpec
from ._framing import normalize_terminator
from ._readers import RAW, READERS, BytesReader, CountReader, Reader

__all__ = ["UNLIMITED", "Terminating"]

#: The limit of a reader no frame limit applies to.
UNLIMITED = sys.maxsize


class Terminating(Batching):
    """The terminator half of :class:`~asyncframe._inbound.Inbound`'s state."""

    # Set up by Inbound.__init__.
    _max_frame_size: int | None
    _skipping: bool
    _broken: str | None
    _eof: bool
    _delimiters: dict[bytes, BytesReader]
    _counter: CountReader

    def set_terminator(self, terminator: TerminatorSpec) -> None:
        """Set what ends the current frame, from the next unread byte on.

        *terminator* is bytes (a delimiter such as ``b"\\r\\n"``), a tuple of bytes
        (the earliest match wins, the longest at the same position), an int ``N``
        (the next ``N`` bytes form the frame; ``0`` is an empty frame at once) or
        ``None`` (every byte is data, no frame ever ends).
        """
        # Readers are reused where they can be (a channel's delimiters, its one byte
        # counter): re-armed, a reader is the fresh one READERS would make. This is
        # called once or twice per frame by length-prefixed protocols, so the common
        # kinds skip normalize_terminator (it returns them unchanged).
        spec = terminator
        kind = type(spec)
        if not ((kind is bytes and spec) or (kind is int and spec >= 0)):  # type: ignore[operator]
            spec = normalize_terminator(spec)
            kind = type(spec)
        if kind is bytes:
            if spec == self._term and not self._skipping and self._broken is None:
                return  # the same delimiter again: nothing changes, a batch may stay out
            if self._batch is not None:
                self._settle()
            reader: Reader | None = self._delimiters.get(spec)  # type: ignore[arg-type]
            if reader is None:
                reader = READERS[bytes](spec)
                if len(self._delimiters) < 8:  # bounded: terminators set by a peer
                    self._delimiters[spec] = reader  # type: ignore[index, assignment]
            else:
                reader.reset()  # type: ignore[union-attr]
            self._term = spec  # type: ignore[assignment]
        else:
            if self._batch is not None:
                self._settle()
            if kind is int:
                reader = self._counter
                reader.arm(spec)  # type: ignore[arg-type]
            elif spec is None:
                reader = RAW
            else:
                reader = READERS[kind](spec)
            self._term = b""  # batches need a bytes terminator
        self._reader = reader
        self._skipping = False
        self._streak = 0  # frames ended since the terminator was set
        self._set_limit()

    _install = set_terminator  # for internal callers: a subclass may override the public name

    def _set_limit(self) -> None:
        """The payload limit of the current reader; -1 for a count declared over it."""
        size = self._max_frame_size
        reader = self._reader
        if size is None or not reader.limited:
            self._limit = UNLIMITED
        elif type(reader) is CountReader and reader.count > size:
            self._limit = -1  # fails at once, at the next read
        else:
            self._limit = size

    def _current_terminator(self) -> TerminatorSpec:
        """The current terminator (a running count reads the bytes still expected)."""
        return self._reader.spec(self._position()[0])

    def _frame_done(self, term_end: int) -> None:
        """Consume a frame's terminator (up to *term_end*): a new frame begins, and a
        completed count gives way to None."""
        self._buf.start = term_end
        self._frame_len = 0
        self._streak += 1
        if self._reader is self._counter:
            # What _install(None) does here, without its checks that cannot fire:
            # no batch is out under a count (batches need a bytes terminator), no
            # frame is being skipped (this one just ended), and None has no limit.
            self._reader = RAW
            self._limit = UNLIMITED

    def _reject(self, total: int, pay_end: int, term_end: int) -> NoReturn:
        """Drop the frame over the limit (or skip it as it arrives) and raise FrameTooLong."""
        limit = self._max_frame_size
        assert limit is not None
        reader = self._reader
        size = reader.count if type(reader) is CountReader and reader.count > limit else total
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
        pay_end, term_end, _ = self._reader.scan(data, buf.start, len(data), self._eof)
        if term_end < 0:
            buf.start = pay_end
            return False
        self._skipping = False
        self._frame_done(term_end)
        return True
