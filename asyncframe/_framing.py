"""The inbound half: a receive buffer and terminator matching.

:class:`Framer` holds the received bytes in one ``bytearray`` with a read offset
(``_pos``) and a search offset (``_search``): bytes before ``_search`` are known
not to start a terminator, so no byte is searched twice, and no frame ever
re-slices the rest of the buffer. Consumed bytes are dropped from the front when
new data arrives, which CPython does in constant time for a ``bytearray``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import ClassVar

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

_CLOSED = ConnectionClosed()


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
    """The inbound state machine: bytes in, :class:`Data`/:class:`Terminator` events out."""

    #: The buffer type; a test may swap in an instrumented ``bytearray`` subclass.
    _buffer_type: ClassVar[type[bytearray]] = bytearray

    __slots__ = (
        "_buf",
        "_count",
        "_eof",
        "_found",
        "_gen",
        "_kind",
        "_max_len",
        "_pos",
        "_scan",
        "_search",
        "_skipping",
        "_spec",
        "_term",
        "_term_event",
        "_terms",
        "max_frame_size",
    )

    def __init__(self, terminator: TerminatorSpec, max_frame_size: int) -> None:
        self._buf = self._buffer_type()
        self._pos = 0
        self._search = 0
        self._eof = False
        self._skipping = False
        self._gen = 0
        self.max_frame_size = max_frame_size
        self._apply(terminator)

    # -- terminator ------------------------------------------------------------------

    def _apply(self, spec: TerminatorSpec) -> None:
        """Install an already-normalized terminator, effective from the next unread byte."""
        self._spec = spec
        self._search = self._pos
        self._skipping = False
        self._gen += 1
        self._term = b""
        self._terms: tuple[bytes, ...] = ()
        self._count = 0
        if spec is None or spec == 0:
            self._kind = _NONE
        elif isinstance(spec, bytes):
            self._kind = _BYTES
            self._term = spec
            self._term_event = Terminator(spec)
        elif isinstance(spec, int):
            self._kind = _COUNT
            self._count = spec
            self._term_event = Terminator(spec)
        else:
            self._kind = _MULTI
            self._terms = spec
            self._max_len = max(map(len, spec))
            # Per alternative: the position of its next match at or after _pos (-1: none
            # seen yet), and where to continue searching for it.
            self._found = [-1] * len(spec)
            self._scan = [self._pos] * len(spec)

    @property
    def terminator(self) -> TerminatorSpec:
        if self._kind == _COUNT:
            return self._count
        return self._spec

    # -- input -----------------------------------------------------------------------

    def receive(self, data: bytes | bytearray | memoryview) -> None:
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
        pos = self._pos
        buf = self._buf
        if pos:
            # Drop what was consumed; constant time for a bytearray's front.
            del buf[:pos]
            self._pos = 0
            self._search -= pos
            if self._kind == _MULTI:
                self._found = [f - pos if f >= 0 else -1 for f in self._found]
                self._scan = [s - pos for s in self._scan]
        buf += data
        self._gen += 1

    @property
    def eof(self) -> bool:
        return self._eof

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def unread(self) -> bytes:
        return bytes(self._buf[self._pos :])

    def discard(self) -> None:
        del self._buf[:]
        self._pos = 0
        self._skipping = False
        self._apply(self._spec if self._kind != _COUNT else self._count)

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
                self._pos = m[0] + len(m[1])
                self._search = self._pos
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
                return Data(bytes(buf[pos:idx]))
            end = len(buf)
            # Bytes before `stop` cannot start a terminator; those after could.
            stop = end if self._eof else end - _held_back(buf, pos, end, term)
            self._search = stop
            if stop > pos:
                self._pos = stop
                return Data(bytes(buf[pos:stop]))
        elif kind == _NONE:
            end = len(buf)
            if end > pos:
                self._pos = self._search = end
                return Data(bytes(buf[pos:end]))
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
                return Data(bytes(buf[pos:stop]))
        else:
            m = self._multi_match()
            if isinstance(m, tuple):
                start, term = m
                if start == pos:
                    self._pos = self._search = pos + len(term)
                    return Terminator(term)
                self._pos = self._search = start
                return Data(bytes(buf[pos:start]))
            if m > pos:
                self._pos = self._search = m
                return Data(bytes(buf[pos:m]))
        return self._need_data_or_closed()

    def _need_data_or_closed(self) -> Event | NeedData:
        if self._eof and self._pos >= len(self._buf):
            return _CLOSED
        return NEED_DATA

    def events(self) -> Iterator[Event]:
        next_event = self.next_event
        while True:
            event = next_event()
            if event is NEED_DATA:
                return
            yield event
            if event is _CLOSED:
                return

    # -- frames ----------------------------------------------------------------------

    def _too_long(self, size: int, complete: bool) -> FrameTooLong:
        return FrameTooLong(size, self.max_frame_size, complete=complete)

    def frames(self) -> Iterator[bytes]:
        while True:
            if self._skipping:
                self._skip()
                if self._skipping:
                    return
            kind = self._kind
            if kind == _BYTES:
                if (yield from self._bytes_frames()):
                    continue
                return
            if kind == _MULTI:
                m = self._multi_match()
                if not isinstance(m, tuple):
                    self._check_pending(m)
                    return
                start, term = m
                pos = self._pos
                self._pos = self._search = start + len(term)
                if start - pos > self.max_frame_size:
                    raise self._too_long(start - pos, True)
                yield bytes(self._buf[pos:start])
            elif kind == _COUNT:
                n = self._count
                pos = self._pos
                if n > self.max_frame_size:
                    self._skipping = True
                    raise self._too_long(n, False)
                if len(self._buf) - pos < n:
                    return
                self._pos = self._search = pos + n
                self._apply(0)
                yield bytes(self._buf[pos : pos + n])
            else:
                self._check_pending(len(self._buf))
                return

    def _check_pending(self, stop: int) -> None:
        """Raise FrameTooLong if an unterminated frame outgrew ``max_frame_size``.

        *stop* is where the certain payload ends; bytes after it could start the
        terminator and are kept, so that the skip that follows sees them.
        """
        size = len(self._buf) - self._pos
        if size > self.max_frame_size:
            self._pos = stop
            if self._search < stop:
                self._search = stop
            self._skipping = self._kind != _NONE
            raise self._too_long(size, False)

    def _bytes_frames(self) -> Generator[bytes, None, bool]:
        """Yield the complete frames of a bytes terminator.

        The settled stretch of the buffer is split in one pass; the stretch around
        the last match is left to ``find``, which is exact even for terminators that
        overlap themselves (``b"\\r\\n.\\r\\n"``). Returns true if the caller should
        look again (the terminator or the buffer changed while a frame was out),
        false if more data is needed.
        """
        buf = self._buf
        term = self._term
        tlen = len(term)
        gen = self._gen
        limit = self.max_frame_size
        pos = self._pos
        last = buf.rfind(term, self._search)
        if last > pos:
            parts = bytes(buf[pos:last]).split(term)
            parts.pop()
            for part in parts:
                size = len(part)
                pos += size + tlen
                self._pos = self._search = pos
                if size > limit:
                    raise self._too_long(size, True)
                yield part
                if self._gen != gen:
                    return True
        find = buf.find
        while True:
            idx = find(term, self._search)
            if idx < 0:
                break
            pos = self._pos
            self._pos = self._search = idx + tlen
            if idx - pos > limit:
                raise self._too_long(idx - pos, True)
            yield bytes(buf[pos:idx])
            if self._gen != gen:
                return True
        pos = self._pos
        end = len(buf)
        stop = end if self._eof else end - _held_back(buf, pos, end, term)
        self._search = stop
        self._check_pending(stop)
        return False

    @property
    def trailing_data(self) -> bytes:
        if not self._eof:
            return b""
        return bytes(self._buf[self._pos :])
