"""The current terminator: its reader, and the frame limit under it.

A channel reads under one terminator at a time. Setting one picks its reader from
``_readers.READERS`` (reusing the channel's delimiters and its one byte counter)
and the payload limit that goes with it: ``max_frame_size`` for a delimiter or a
count, none for ``None`` (a stream, not frames), and an immediate failure for a
count declared over the limit. The parsing path (``_inbound``) calls back here when
a frame is over the limit (it is dropped, or skipped as it arrives, through its
terminator).
"""

from __future__ import annotations

import sys

from ._batch import Batching
from ._errors import FrameTooLong
from ._events import TerminatorSpec
from ._framing import normalize_terminator
from ._readers import RAW, READERS, BytesReader, CountReader, Reader, RecordReader

__all__ = ["UNLIMITED", "Terminating"]

#: The limit of a reader no frame limit applies to.
UNLIMITED = sys.maxsize


class Terminating(Batching):
    """The terminator half of :class:`~asyncframe._inbound.Inbound`'s state."""

    # Set up by Inbound.__init__.
    _max_frame_size: int | None
    _frame_limit: int  # max_frame_size, or UNLIMITED for None
    _max_record_size: int | None
    _record_limit: int  # max_record_size, or UNLIMITED for None
    _skipping: bool
    _error: object
    _eof: bool
    _delimiters: dict[bytes, BytesReader]
    _counter: CountReader
    _record_end: object

    def set_terminator(self, terminator: TerminatorSpec) -> None:
        """Set what ends the current frame, from the next unread byte on.

        *terminator* is bytes (a delimiter such as ``b"\\r\\n"``), a tuple of bytes
        (the earliest match wins, the longest at the same position), an int ``N``
        (the next ``N`` bytes form the frame; ``0`` is an empty frame at once),
        ``None`` (every byte is data, no frame ever ends) or a record kind
        (:class:`~asyncframe.RecordKind`: it reads a record's header at the next
        unread byte, and stays in force record after record).
        """
        # Readers are reused where they can be. The channel's one byte counter is
        # re-armed. A delimiter set again resumes its search where it left it: the
        # bytes never change, the channel rebases every delimiter it keeps with the
        # buffer, and the read offset never goes back before where that search
        # started; a search behind the read offset starts afresh by itself. Each
        # kind's frame limit is decided here, and only here (_reset_limit goes
        # through this method too). This is called once or twice per frame by
        # length-prefixed protocols, so it makes no call it can avoid: the common
        # kinds skip normalize_terminator (it returns them unchanged).
        spec = terminator
        kind = type(spec)
        if not ((kind is bytes and spec) or (kind is int and spec >= 0)):  # type: ignore[operator]
            spec = normalize_terminator(spec)
            kind = type(spec)
        if kind is bytes:
            if spec == self._term and not self._skipping and type(self._error) is not str:
                return  # the same delimiter again: nothing changes, a batch may stay out
            if self._batch is not None:
                self._settle()
            reader: Reader | None = self._delimiters.get(spec)  # type: ignore[arg-type]
            if reader is None:
                reader = READERS[bytes](spec)
                if len(self._delimiters) < 8:  # bounded: terminators set by a peer
                    self._delimiters[spec] = reader  # type: ignore[index, assignment]
            self._term = spec  # type: ignore[assignment]
            self._limit = self._frame_limit
            self._record_end = None
        else:
            if self._batch is not None:
                self._settle()
            if kind is int:
                reader = self._counter
                reader.arm(spec)  # type: ignore[arg-type]
                limit = self._record_limit
                self._limit = -1 if spec > limit else limit  # type: ignore[operator]  # -1: fails at once
            elif spec is None:
                reader = RAW
                self._limit = UNLIMITED  # a stream, not frames
            else:
                # A tuple, or a record kind: a fresh reader. A record's payload is
                # checked at its header against max_record_size (_inbound); the
                # limit here is for MarkedLines' lines.
                reader = READERS[kind](spec)
                self._limit = self._frame_limit
            self._record_end = reader.event if isinstance(reader, RecordReader) else None
            self._term = b""  # batches need a bytes terminator
        self._reader = reader
        self._skipping = False
        self._streak = 0  # frames ended since the terminator was set

    _install = set_terminator  # for internal callers: a subclass may override the public name

    def _reset_limit(self, max_frame_size: int | None) -> None:
        """Apply a new ``max_frame_size`` to the frame being read, and to every later one.

        The current terminator is set again, as :meth:`set_terminator` would set
        it, keeping the frame's progress (a running count is checked for what
        remains of it).
        """
        self._settle()
        self._use_max_frame_size(max_frame_size)
        self._reapply()

    def _reset_record_limit(self, max_record_size: int | None) -> None:
        """Apply a new ``max_record_size`` to the count being read and to every later
        count and record header (a record whose header was read keeps its size)."""
        self._settle()
        self._use_max_record_size(max_record_size)
        self._reapply()

    def _reapply(self) -> None:
        if isinstance(self._reader, RecordReader):
            # The reader keeps its progress: only the line limit changes.
            self._limit = self._frame_limit
            return
        skipping, streak = self._skipping, self._streak
        spec = self._current_terminator()
        self._term = b""  # not "the same delimiter again": it must be set anew
        self._install(spec)
        self._skipping, self._streak = skipping, streak

    def _use_max_frame_size(self, max_frame_size: int | None) -> None:
        self._max_frame_size = max_frame_size
        self._frame_limit = UNLIMITED if max_frame_size is None else max_frame_size

    def _use_max_record_size(self, max_record_size: int | None) -> None:
        self._max_record_size = max_record_size
        self._record_limit = UNLIMITED if max_record_size is None else max_record_size

    def _current_terminator(self) -> TerminatorSpec:
        """The current terminator (a running count reads the bytes still expected)."""
        return self._reader.spec(self._position()[0])

    def _reject(self, total: int, pay_end: int, term_end: int) -> FrameTooLong:
        """A frame over the limit: return its FrameTooLong if it is complete (the
        caller consumes it, then raises), else start skipping it and raise."""
        reader = self._reader
        if type(reader) is CountReader:
            # A count is rejected for what it declares: the bytes it was armed for,
            # plus any read before the limit changed (see _reset_limit).
            limit, name = self._max_record_size, "max_record_size"
            size = self._frame_len + reader.count
        else:
            limit, name = self._max_frame_size, "max_frame_size"
            size = total
        assert limit is not None
        error = FrameTooLong(size, limit, complete=term_end >= 0, limit_name=name)
        if term_end >= 0:
            return error
        self._buf.start = pay_end
        self._frame_len = 0
        self._skipping = True
        raise error
