"""The inbound half: a receive buffer and terminator matching.

:class:`Framer` holds the received bytes in one ``bytearray`` with a read offset
(``_pos``) and a search offset (``_search``): bytes before ``_search`` are known
not to start a terminator, so no byte is searched twice, and no frame ever
re-slices the rest of the buffer. Consumed bytes are dropped from the front when
new data arrives, which CPython does in constant time for a ``bytearray``.

The fast path (a bytes terminator that cannot overlap itself, the line-protocol
case) works in *batches*: a window of the buffer is split in one pass and its
frames, or its events, are handed out from a list. While a batch is out, ``_pos``
lags behind: it is brought up to date by :meth:`Framer._settle` from the batch
iterator's position whenever something needs it. A terminator change clears the
list, so the rest of the batch is never handed out and parsing resumes, lazily,
at the next unread byte. The window doubles while batches are used up and shrinks
back when one is dropped, so the work wasted by dropped batches stays linear.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterator
from itertools import chain, repeat
from typing import Any, ClassVar

from ._errors import DataAfterEOF, FrameTooLong
from ._events import NEED_DATA, ConnectionClosed, Data, Event, NeedData, Terminator, TerminatorSpec

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "Framer", "find_prefix_at_end", "normalize_terminator"]

#: The default ``max_frame_size`` of a channel: 64 KiB, as asyncio's stream limit.
DEFAULT_MAX_FRAME_SIZE = 65536

# Terminator kinds.
_NONE = 0  # None or 0: everything is data
_BYTES = 1  # one bytes terminator
_COUNT = 2  # a byte count still running
_MULTI = 3  # a tuple of bytes terminators

# Batch windows, in bytes of buffer.
_MIN_WINDOW = 64
_MAX_WINDOW = 1 << 20

_CLOSED = ConnectionClosed()

# Internal construction of events whose field is known to be valid (non-empty bytes):
# the same frozen attrs instances, without running the validator for each one.
_new = object.__new__
_set_data = Data.__dict__["data"].__set__


def _make_data(data: bytes) -> Data:
    event: Data = _new(Data)
    _set_data(event, data)
    return event


def find_prefix_at_end(haystack: bytes | bytearray, needle: bytes) -> int:
    """Return the length of the longest proper prefix of *needle* that ends *haystack*.

    This is the classic ``asynchat`` helper: ``find_prefix_at_end(b"qwerty\\r", b"\\r\\n")``
    is 1, because the last byte could be the start of the terminator.
    """
    if not isinstance(haystack, (bytes, bytearray)):
        raise TypeError(f"haystack must be bytes or bytearray, not {type(haystack).__name__}")
    if not isinstance(needle, (bytes, bytearray)):
        raise TypeError(f"needle must be bytes or bytearray, not {type(needle).__name__}")
    return _held_back(haystack, 0, len(haystack), bytes(needle))


def _held_back(buf: bytes | bytearray, pos: int, end: int, term: bytes) -> int:
    """Length of the longest suffix of ``buf[pos:end]`` that is a proper prefix of *term*."""
    tlen = len(term)
    if tlen < 2 or end <= pos:
        return 0
    first = term[0]
    # Candidates are the positions, at most tlen - 1 bytes from the end, holding term[0].
    start = end - tlen + 1
    if start < pos:
        start = pos
    i = buf.find(first, start, end)
    while i >= 0:
        n = end - i
        if buf[i:end] == term[:n]:
            return n
        i = buf.find(first, i + 1, end)
    return 0


def _overlaps_itself(term: bytes) -> bool:
    """True if a proper prefix of *term* is also a suffix (``b"aa"``, ``b"\\r\\n.\\r\\n"``)."""
    return any(term[:i] == term[-i:] for i in range(1, len(term)))


def normalize_terminator(terminator: object) -> TerminatorSpec:
    """Check a terminator as :meth:`Channel.set_terminator` takes it and return its stored form.

    Raises :exc:`TypeError` or :exc:`ValueError` naming ``terminator``.
    """
    if terminator is None:
        return None
    if isinstance(terminator, bool):
        raise TypeError("terminator must be bytes, an int, None or a tuple of bytes, not bool")
    if isinstance(terminator, int):
        if terminator < 0:
            raise ValueError(f"terminator must be a byte count >= 0, not {terminator}")
        return terminator
    if isinstance(terminator, (bytes, bytearray, memoryview)):
        value = bytes(terminator)
        if not value:
            raise ValueError(
                "terminator must not be empty; use None (or 0) to receive every byte as data"
            )
        return value
    if isinstance(terminator, tuple):
        if not terminator:
            raise ValueError("terminator must not be an empty tuple")
        items = []
        for i, item in enumerate(terminator):
            if not isinstance(item, (bytes, bytearray, memoryview)):
                raise TypeError(f"terminator[{i}] must be bytes, not {type(item).__name__}")
            value = bytes(item)
            if not value:
                raise ValueError(f"terminator[{i}] must not be empty")
            items.append(value)
        return tuple(items)
    if isinstance(terminator, str):
        raise TypeError(
            "terminator must be bytes, not str: encode it first, e.g. b'\\r\\n' "
            "or terminator.encode('ascii')"
        )
    raise TypeError(
        "terminator must be bytes, an int, None or a tuple of bytes, "
        f"not {type(terminator).__name__}"
    )


class Framer:
    """The inbound state machine: bytes in, :class:`Data`/:class:`Terminator` events out.

    :class:`~asyncframe.Channel` is a :class:`Framer` with an outbound queue; the
    methods documented here are the inbound half of its API.
    """

    #: The buffer type; a test may swap in an instrumented ``bytearray`` subclass.
    _buffer_type: ClassVar[type[bytearray]] = bytearray

    def __init__(self, terminator: TerminatorSpec, max_frame_size: int) -> None:
        self._buf = self._buffer_type()
        self._pos = 0
        self._search = 0
        self._eof = False
        self._skipping = False
        # The active batch: its list, an iterator over it, whether it holds frames
        # (else events), how many of its items _pos accounts for, and its end.
        self._lst: list[Any] | None = None
        self._lit: Iterator[Any] | None = None
        self._lframes = False
        self._ltotal = 0
        self._ldone = 0
        self._lstart = 0
        self._lend = 0
        self._window = _MIN_WINDOW
        self._max_frame_size = max_frame_size
        self._apply(terminator)
        # One event stream per channel; next_event() is its __next__ (see the class doc).
        self._stream = self._event_stream()
        self.next_event = self._stream.__next__  # type: ignore[method-assign]

    # -- terminator ------------------------------------------------------------------

    def _apply(self, spec: TerminatorSpec) -> None:
        """Install an already-normalized terminator, effective from the next unread byte."""
        self._drop_batch()
        self._spec = spec
        self._search = self._pos
        self._skipping = False
        self._term = b""
        self._batchable = False
        self._terms: tuple[bytes, ...] = ()
        self._count = 0
        if spec is None or spec == 0:
            self._kind = _NONE
        elif isinstance(spec, bytes):
            self._kind = _BYTES
            self._term = spec
            self._term_event = Terminator(spec)
            self._batchable = not _overlaps_itself(spec)
        elif isinstance(spec, int):
            self._kind = _COUNT
            self._count = spec
            self._term_event = Terminator(spec)
        else:
            self._kind = _MULTI
            self._terms = spec
            # Per alternative: the position of its next match at or after _pos (-1: none
            # seen yet), and where to continue searching for it.
            self._found = [-1] * len(spec)
            self._scan = [self._pos] * len(spec)

    def _current_terminator(self) -> TerminatorSpec:
        """The current terminator (a running count reads the bytes still expected)."""
        if self._kind == _COUNT:
            return self._count
        return self._spec

    # -- batches ---------------------------------------------------------------------

    def _settle(self) -> None:
        """Bring ``_pos`` up to date with what was taken from the active batch."""
        it = self._lit
        if it is None:
            return
        remaining: int = it.__length_hint__()  # type: ignore[attr-defined]
        if not remaining:
            self._pos = self._search = self._lend
            self._lst = self._lit = None
            if self._window < _MAX_WINDOW:
                self._window *= 2
            return
        taken = self._ltotal - remaining
        done = self._ldone
        if taken > done:
            lst = self._lst
            assert lst is not None
            tlen = len(self._term)
            if self._lframes:
                advance = sum(map(len, lst[done:taken])) + (taken - done) * tlen
            else:
                term_event = self._term_event
                advance = sum(
                    tlen if event is term_event else len(event.data) for event in lst[done:taken]
                )
            self._pos = self._search = self._pos + advance
            self._ldone = taken

    def _drop_batch(self) -> None:
        """Settle and cancel the active batch; iterators handing it out stop.

        The next window is sized on what the dropped batch delivered, so a protocol
        that changes its terminator every few frames does not split far ahead.
        """
        if self._lit is not None:
            self._settle()
            if self._lst is not None:
                self._lst.clear()
                self._lst = self._lit = None
                self._window = max(_MIN_WINDOW, 2 * (self._pos - self._lstart))

    def _plan(self, frames: bool) -> bool:
        """Start a batch of the complete frames (or their events) in the next window.

        Returns false if the window holds no complete frame.
        """
        self._drop_batch()
        buf = self._buf
        pos = self._pos
        term = self._term
        tlen = len(term)
        wend = pos + self._window
        if wend > len(buf):
            wend = len(buf)
        last = buf.rfind(term, self._search, wend)
        if last < 0:
            if wend < len(buf) and self._window < _MAX_WINDOW:
                self._window *= 2  # frames are longer than the window: widen it
            return False
        parts = bytes(buf[pos:last]).split(term)
        lend = last + tlen
        if frames and max(map(len, parts)) > self._max_frame_size:
            limit = self._max_frame_size
            cut = next(i for i, part in enumerate(parts) if len(part) > limit)
            if not cut:
                return False  # the one-frame path reports it
            del parts[cut:]
            lend = pos + sum(map(len, parts)) + cut * tlen
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
        self._lst = lst
        self._lit = iter(lst)
        self._lframes = frames
        self._ltotal = len(lst)
        self._ldone = 0
        self._lstart = pos
        self._lend = lend
        return True

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
        if not len(data):
            self._eof = True
            return
        self._settle()
        pos = self._pos
        buf = self._buf
        if pos:
            # Drop what was consumed; constant time for a bytearray's front.
            del buf[:pos]
            self._pos = 0
            self._search -= pos
            self._lstart -= pos
            self._lend -= pos
            if self._kind == _MULTI:
                self._found = [f - pos if f >= 0 else -1 for f in self._found]
                self._scan = [s - pos for s in self._scan]
        buf += data

    @property
    def eof(self) -> bool:
        """True once :meth:`receive_data` was given ``b""``."""
        return self._eof

    @property
    def buffered_input(self) -> int:
        """How many received bytes have not been reported yet."""
        self._settle()
        return len(self._buf) - self._pos

    @property
    def trailing_data(self) -> bytes:
        """After EOF, the unread bytes no terminator ended; ``b""`` before EOF."""
        if not self._eof:
            return b""
        self._settle()
        return bytes(self._buf[self._pos :])

    def _unread(self) -> bytes:
        """The received bytes not reported yet."""
        self._settle()
        return bytes(self._buf[self._pos :])

    def _discard_input(self) -> None:
        """Drop every unread byte; the terminator (and a running count) stays as it is."""
        self._drop_batch()
        del self._buf[:]
        self._pos = self._search = self._lend = 0
        self._skipping = False
        if self._kind == _MULTI:
            self._found = [-1] * len(self._terms)
            self._scan = [0] * len(self._terms)

    # -- matching --------------------------------------------------------------------

    def _multi_match(self) -> tuple[int, bytes] | int:
        """Find the decided earliest-longest match of a tuple terminator.

        Returns ``(start, matched)``, or, if no match is decided yet, the position up
        to which the buffer is certainly payload.
        """
        buf = self._buf
        pos = self._pos
        end = len(buf)
        found = self._found
        scan = self._scan
        best = -1
        best_term = b""
        for i, term in enumerate(self._terms):
            f = found[i]
            if f < pos:
                start = scan[i] if scan[i] > pos else pos
                f = buf.find(term, start)
                found[i] = f
                if f < 0:
                    s = end - len(term) + 1
                    scan[i] = s if s > pos else pos
            if f >= 0 and (best < 0 or f < best or (f == best and len(term) > len(best_term))):
                best = f
                best_term = term
        hold = 0
        if not self._eof:
            for term in self._terms:
                h = _held_back(buf, pos, end, term)
                if h > hold:
                    hold = h
        if best >= 0 and (hold == 0 or best < end - hold):
            return best, best_term
        # A longer or earlier match may still complete with more data.
        stop = end - hold
        return stop if best < 0 or stop < best else best

    def _skip(self) -> None:
        """Discard the rest of an oversized frame, through its terminator."""
        buf = self._buf
        pos = self._pos
        end = len(buf)
        kind = self._kind
        if kind == _BYTES:
            idx = buf.find(self._term, self._search)
            if idx >= 0:
                self._pos = self._search = idx + len(self._term)
                self._skipping = False
            else:
                hold = 0 if self._eof else _held_back(buf, pos, end, self._term)
                self._pos = self._search = end - hold
        elif kind == _MULTI:
            m = self._multi_match()
            if isinstance(m, tuple):
                self._pos = self._search = m[0] + len(m[1])
                self._skipping = False
            else:
                self._pos = m
        elif kind == _COUNT:
            n = min(self._count, end - pos)
            self._pos = pos + n
            self._count -= n
            if not self._count:
                self._apply(0)
        else:
            self._pos = end
            self._skipping = False

    # -- events ----------------------------------------------------------------------

    def next_event(self) -> Event | NeedData:
        """Return the next event, or :data:`~asyncframe.NEED_DATA` if more bytes are needed.

        Parsing happens here, so a terminator set between two calls applies from
        the very next unread byte. After EOF has been reported this keeps
        returning :class:`~asyncframe.ConnectionClosed`.
        """
        return next(self._stream)

    def events(self) -> Iterator[Event]:
        """Iterate over the events :meth:`next_event` has to report, lazily.

        Stops where :meth:`next_event` would return :data:`~asyncframe.NEED_DATA`,
        or after yielding :class:`~asyncframe.ConnectionClosed`.
        """
        for event in self._stream:
            if event is NEED_DATA:
                return
            yield event
            if event is _CLOSED:
                return

    def _event_stream(self) -> Generator[Event | NeedData, None, None]:
        """The endless generator behind :meth:`next_event`.

        All its state lives on ``self``, so it picks up terminator changes, new data
        and discarded buffers whenever it is resumed.
        """
        while True:
            it = self._lit
            if it is not None and not self._lframes:
                for event in it:  # noqa: UP028 - resumes faster than `yield from`
                    yield event
                if self._lit is it:
                    self._settle()
                continue
            if self._batchable and not self._skipping and self._plan(frames=False):
                # Hand the batch out at C speed to callers that look next_event up on
                # the channel; when it runs out, the chain resumes this generator.
                # (A caller holding an older next_event still gets every event, in
                # order: both consume the same iterator.)
                self.next_event = chain(self._lit, self._stream).__next__  # type: ignore[arg-type,method-assign]
                continue
            yield self._step()

    def _step(self) -> Event | NeedData:
        """Parse one event without batching."""
        self._drop_batch()
        if self._skipping:
            self._skip()
            if self._skipping:
                return self._need_data_or_closed()
        buf = self._buf
        pos = self._pos
        kind = self._kind
        if kind == _BYTES:
            term = self._term
            idx = buf.find(term, self._search)
            if idx >= 0:
                if idx == pos:
                    self._pos = self._search = pos + len(term)
                    return self._term_event
                self._pos = self._search = idx
                return _make_data(bytes(buf[pos:idx]))
            end = len(buf)
            # Bytes before `stop` cannot start a terminator; those after could.
            stop = end if self._eof else end - _held_back(buf, pos, end, term)
            self._search = stop
            if stop > pos:
                self._pos = stop
                return _make_data(bytes(buf[pos:stop]))
        elif kind == _NONE:
            end = len(buf)
            if end > pos:
                self._pos = self._search = end
                return _make_data(bytes(buf[pos:end]))
        elif kind == _COUNT:
            n = self._count
            if not n:
                event = self._term_event
                self._apply(0)
                return event
            end = len(buf)
            if end > pos:
                stop = pos + n if pos + n < end else end
                self._count = n - (stop - pos)
                self._pos = self._search = stop
                return _make_data(bytes(buf[pos:stop]))
        else:
            m = self._multi_match()
            if isinstance(m, tuple):
                start, term = m
                if start == pos:
                    self._pos = self._search = pos + len(term)
                    return Terminator(term)
                self._pos = self._search = start
                return _make_data(bytes(buf[pos:start]))
            if m > pos:
                self._pos = self._search = m
                return _make_data(bytes(buf[pos:m]))
        return self._need_data_or_closed()

    def _need_data_or_closed(self) -> ConnectionClosed | NeedData:
        if self._eof and self._pos >= len(self._buf):
            return _CLOSED
        return NEED_DATA

    # -- frames ----------------------------------------------------------------------

    def frames(self) -> Iterator[bytes]:
        """Iterate over the complete frames in the buffer, terminator excluded.

        The fast path for line protocols. It stops when more data is needed;
        after EOF an unterminated tail stays in :attr:`trailing_data`. A frame
        longer than :attr:`max_frame_size` raises :exc:`~asyncframe.FrameTooLong`
        after discarding it; the channel stays usable, and the next call goes on
        after the rejected frame. A terminator set while iterating applies from
        the next unread byte, as with :meth:`next_event`.
        """
        while True:
            it = self._lit
            if it is not None and self._lframes:
                for frame in it:
                    yield frame
                if self._lit is it:
                    self._settle()
                continue
            if self._batchable and not self._skipping and self._plan(frames=True):
                continue
            frame = self._frame_step()
            if frame is None:
                return
            yield frame

    def _too_long(self, size: int, complete: bool) -> FrameTooLong:
        return FrameTooLong(size, self._max_frame_size, complete=complete)

    def _frame_step(self) -> bytes | None:
        """Take one complete frame without batching; None if more data is needed."""
        self._drop_batch()
        if self._skipping:
            self._skip()
            if self._skipping:
                return None
        buf = self._buf
        pos = self._pos
        kind = self._kind
        if kind == _BYTES:
            term = self._term
            idx = buf.find(term, self._search)
            if idx >= 0:
                self._pos = self._search = idx + len(term)
                if idx - pos > self._max_frame_size:
                    raise self._too_long(idx - pos, True)
                return bytes(buf[pos:idx])
            end = len(buf)
            stop = end if self._eof else end - _held_back(buf, pos, end, term)
            self._search = stop
            self._check_pending(stop)
        elif kind == _MULTI:
            m = self._multi_match()
            if isinstance(m, tuple):
                start, term = m
                self._pos = self._search = start + len(term)
                if start - pos > self._max_frame_size:
                    raise self._too_long(start - pos, True)
                return bytes(buf[pos:start])
            self._check_pending(m)
        elif kind == _COUNT:
            n = self._count
            if n > self._max_frame_size:
                # Discard what is already here; the rest is skipped as it arrives.
                self._skipping = True
                self._skip()
                raise self._too_long(n, False)
            if len(buf) - pos >= n:
                self._pos = self._search = pos + n
                self._apply(0)
                return bytes(buf[pos : pos + n])
        else:
            self._check_pending(len(buf))
        return None

    def _check_pending(self, stop: int) -> None:
        """Raise FrameTooLong if an unterminated frame outgrew ``max_frame_size``.

        *stop* is where the certain payload ends; bytes after it could start the
        terminator and are kept, so that the skip that follows sees them.
        """
        size = len(self._buf) - self._pos
        if size > self._max_frame_size:
            self._pos = stop
            if self._search < stop:
                self._search = stop
            self._skipping = self._kind != _NONE
            raise self._too_long(size, False)
