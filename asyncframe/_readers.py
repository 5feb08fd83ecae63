"""One reader per terminator kind, picked from :data:`READERS` when the terminator is set.

A reader looks at the unread bytes ``data[start:end]`` of the receive buffer and
says where the current frame's payload certainly ends and whether its terminator
is decided, through one method::

    scan(data, start, end, eof) -> (payload_end, terminator_end, event)

- ``payload_end``: the bytes ``data[start:payload_end]`` are payload for sure; the
  bytes after it (if no terminator is decided) could start a terminator and are
  held back, unless ``eof`` says no more bytes will come.
- ``terminator_end``: where the decided terminator ends, or ``-1`` if none is.
- ``event``: the :class:`Terminator` event to report, or ``None``.

``scan`` consumes nothing (the caller moves the buffer's offset), so calling it
twice gives the same answer; it only keeps search offsets so that no byte is
searched twice (see ``_receivebuffer`` for the cost argument). A reader is created
for each terminator set and belongs to one channel.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from functools import lru_cache
from typing import NoReturn

from ._errors import ProtocolError
from ._events import Terminator, TerminatorSpec
from ._records import MAX_DIGITS, DecimalPrefix, MarkedLines, RecordKind, StructPrefix

__all__ = ["HEADER", "READERS", "Reader", "RecordReader", "held_back", "make_reader"]

#: A scan result: (payload_end, terminator_end, event); see the module docstring.
Scan = tuple[int, int, "Terminator | None"]


@lru_cache(maxsize=64)
def _borders(term: bytes) -> tuple[int, ...]:
    """The Knuth-Morris-Pratt table: for each prefix ``term[:i + 1]``, its longest proper border."""
    table = [0] * len(term)
    k = 0
    for i in range(1, len(term)):
        c = term[i]
        while k and term[k] != c:
            k = table[k - 1]
        if term[k] == c:
            k += 1
        table[i] = k
    return tuple(table)


def _advance(term: bytes, state: int, chunk: bytes | bytearray) -> tuple[int, int]:
    """Run the automaton of *term* from *state* (bytes matched) over *chunk*.

    Returns ``(index, state)``: the index in *chunk* just after the first complete
    match (``-1`` if none) and the final state. Amortised O(1) per byte: the state
    falls back at most as often as it grew.
    """
    borders = _borders(term)
    full = len(term)
    for i, c in enumerate(chunk):
        while state and term[state] != c:
            state = borders[state - 1]
        if term[state] == c:
            state += 1
            if state == full:
                return i + 1, state
    return -1, state


def held_back(data: bytes | bytearray, lo: int, end: int, term: bytes) -> int:
    """Length of the longest suffix of ``data[lo:end]`` that is a proper prefix of *term*.

    Only the last ``len(term) - 1`` bytes can matter; they are run through the
    automaton from the first byte that could start *term*.
    """
    if end - lo >= len(term):
        lo = end - len(term) + 1
    if lo >= end:
        return 0
    first = data.find(term[0], lo, end)
    if first < 0:
        return 0
    return _advance(term, 0, data[first:end])[1]


def terminator_event(value: bytes | int) -> Terminator:
    """The :class:`Terminator` event for *value*, shared (events are immutable)."""
    event = _EVENTS.get(value)
    if event is None:
        event = Terminator(value)
        if len(_EVENTS) < 1024:  # bounded: terminators set by a peer cannot grow it
            _EVENTS[value] = event
    return event


_EVENTS: dict[bytes | int, Terminator] = {}

#: Spans (in bytes) short enough that a bytes reader searches them with one find.
_SHORT = 64


class BytesReader:
    """A bytes terminator: the payload up to the first match, then the match.

    Invariant: no match starts before :attr:`at`; if :attr:`stop` is not ``-1`` a
    match spans ``data[at:stop]`` (found by the last scan, not consumed yet),
    otherwise ``data[at:at + held]`` is a proper prefix of the terminator (the
    bytes held back when the last scan ended).
    """

    __slots__ = ("at", "event", "head", "held", "stop", "term")

    def __init__(self, term: bytes) -> None:
        self.term = term
        self.head = term[:1]
        self.event = terminator_event(term)
        self.reset()

    def reset(self) -> None:
        """Forget every search offset: the next scan starts afresh at its *start*."""
        self.at = -1
        self.held = 0
        self.stop = -1

    def scan(self, data: bytearray, start: int, end: int, eof: bool) -> Scan:
        at = self.at
        if at < start:
            # A fresh search: a frame starts here. A short frame (a header, a
            # count line) ends within a few bytes, where one short find settles
            # it; a longer one gets the search below, which looks for the first
            # byte with memchr (a multi-byte find is far slower per byte). The
            # few bytes searched twice keep the cost linear.
            short = start + _SHORT
            found = data.find(self.term, start, short if short < end else end)
            if found >= 0:
                self.at = found
                self.stop = stop = found + len(self.term)
                return found, stop, self.event
            at = start
            held = 0
            self.stop = -1
        elif self.stop >= 0:  # the match found last time is still unread: the answer stands
            return at, self.stop, self.event
        else:
            held = self.held
        seen = at + held
        if seen == end:  # nothing new since the last scan: its answer stands
            return (end if eof else at), -1, None
        term = self.term
        if end - seen >= held:
            # One pass over the held-back and the new bytes (at most twice the new
            # ones). Any match or held-back prefix starts with the terminator's first
            # byte, and over a long span looking for one byte (memchr) first is far
            # cheaper than a multi-byte find; over a short one it is one call more.
            first = at if end - at <= _SHORT else data.find(self.head, at, end)
            if first < 0:
                held = 0
            else:
                found = data.find(term, first, end)
                if found >= 0:
                    self.at = found
                    self.stop = found + len(term)
                    return found, self.stop, self.event
                held = held_back(data, first, end, term)
        else:
            # Fewer new bytes than held back: continue the automaton on the new ones only.
            stop, held = _advance(term, held, data[seen:end])
            if stop >= 0:
                found = seen + stop - len(term)
                self.at = found
                self.stop = found + len(term)
                return found, self.stop, self.event
        self.at = end - held
        self.held = held
        return (end if eof else end - held), -1, None

    def rebase(self, shift: int) -> None:
        self.at -= shift
        if self.stop >= 0:
            self.stop -= shift

    def spec(self, start: int) -> TerminatorSpec:
        return self.term


class TupleReader:
    """A tuple of bytes terminators: the earliest match wins, the longest at a position."""

    __slots__ = ("readers", "terms")

    def __init__(self, terms: tuple[bytes, ...]) -> None:
        self.terms = terms
        self.readers = [BytesReader(term) for term in terms]

    def scan(self, data: bytearray, start: int, end: int, eof: bool) -> Scan:
        best: Scan | None = None
        # Where the earliest held-back prefix begins: a match there could still
        # complete, earlier than (or as early as and longer than) any found one.
        pending = end
        for reader in self.readers:
            found = reader.scan(data, start, end, False)
            if found[1] < 0:
                pending = min(pending, found[0])
            elif (
                best is None
                or found[0] < best[0]
                or (found[0] == best[0] and found[1] > best[1])  # the longest at a position
            ):
                best = found
        if eof:
            pending = end
        if best is not None and best[0] < pending:
            return best
        return (pending if best is None else min(pending, best[0])), -1, None

    def rebase(self, shift: int) -> None:
        for reader in self.readers:
            reader.rebase(shift)

    def spec(self, start: int) -> TerminatorSpec:
        return self.terms


class CountReader:
    """A byte count N: the next N bytes, then ``Terminator(N)`` (at once for 0)."""

    __slots__ = ("count", "event", "stop")

    def __init__(self, count: int) -> None:
        self.count = -1
        self.arm(count)

    def arm(self, count: int) -> None:
        """Count *count* bytes from the next scan's start (a channel re-arms its one reader)."""
        if count != self.count:
            self.count = count
            self.event = terminator_event(count)
        self.stop = -1  # where the count ends in the buffer, fixed by the first scan

    def scan(self, data: bytearray, start: int, end: int, eof: bool) -> Scan:
        stop = self.stop
        if stop < 0:
            stop = self.stop = start + self.count
        if stop <= end:
            return stop, stop, self.event
        return end, -1, None

    def rebase(self, shift: int) -> None:
        if self.stop >= 0:
            self.stop -= shift

    def spec(self, start: int) -> TerminatorSpec:
        """The bytes still expected."""
        return self.count if self.stop < 0 else self.stop - start


class RawReader:
    """No terminator: every byte is payload, and no frame limit applies (stateless)."""

    __slots__ = ()

    def scan(self, data: bytearray, start: int, end: int, eof: bool) -> Scan:
        return end, -1, None

    def rebase(self, shift: int) -> None:
        pass

    def spec(self, start: int) -> TerminatorSpec:
        return None


RAW = RawReader()

#: The event of a record's header: the parsing path consumes the header's bytes
#: (``data[payload_end:terminator_end]``, no payload before them) and reports
#: nothing; the reader's ``body``/``stop`` say where the payload lies.
HEADER = Terminator(-1)

#: At most one digit more than a length may have: enough to tell it has too many.
_DIGITS = re.compile(rb"[0-9]{0,%d}" % (MAX_DIGITS + 1))


def _malformed(kind: RecordKind, data: bytearray, head: int, bad: int, why: str) -> NoReturn:
    """Raise the ProtocolError of a header or trailer; ``data[head:bad]`` is the shortest
    prefix no record can start with (the same bytes however the input was split)."""
    raise ProtocolError(f"malformed {kind!r} record: {bytes(data[head:bad])!r} {why}")


def _mismatch(data: bytearray, at: int, want: bytes, count: int) -> int:
    """The offset just after the first of ``data[at:at + count]`` that differs from *want*."""
    for i in range(count):
        if data[at + i] != want[i]:
            return at + i + 1
    return -1


def _count(
    data: bytearray, head: int, p: int, end: int, after: bytes, kind: RecordKind
) -> tuple[int, int] | None:
    """Parse 1 to MAX_DIGITS decimal digits at *p* followed by *after*.

    Returns ``(count, end of after)``, or ``None`` if the bytes so far can still
    become such a header; raises the ProtocolError naming the bytes from *head*
    on if they cannot.
    """
    q = _DIGITS.match(data, p, end).end()  # type: ignore[union-attr]  # it matches b""
    if p < q <= p + MAX_DIGITS and data.startswith(after, q):  # the common case
        return int(data[p:q]), q + len(after)
    if q - p > MAX_DIGITS:
        _malformed(kind, data, head, q, f"has more than {MAX_DIGITS} digits")
    if q == end:
        return None
    if q == p:
        _malformed(kind, data, head, p + 1, "has no decimal length")
    k = min(end - q, len(after))
    bad = _mismatch(data, q, after, k)
    if bad >= 0:
        _malformed(kind, data, head, bad, f"does not end its length with {after!r}")
    return None  # a proper prefix of *after* so far


def _window(data: bytearray, start: int, bound: int) -> bytes:
    """``data[start:bound]`` as bytes, copied once (through a view, released at once)."""
    view = memoryview(data)
    window = bytes(view[start:bound])
    view.release()  # a bytearray with a view cannot grow
    return window


class RecordReader:
    """The part every record kind shares: a record's payload and trailer, once its header is read.

    Invariant: if ``rec_end >= 0`` a record is in progress: its header ends at
    :attr:`body` (not consumed yet while ``start < body``), its payload spans
    ``data[body:stop]`` and its trailer ``data[stop:rec_end]``. Otherwise the next
    byte starts a header. The parsing path sets ``rec_end`` to ``-1`` when it
    consumes the record's end (with no trailer, offsets alone cannot tell a
    record ended from one whose payload was just reported). An empty record with
    no trailer is reported by its header's scan itself.
    """

    __slots__ = ("body", "event", "kind", "rec_end", "stop", "tlen", "trailer")

    #: True if every frame is a record (ends with :attr:`event`), no frame a line.
    records_only = True

    def __init__(self, kind: RecordKind, trailer: bytes) -> None:
        self.kind = kind
        self.trailer = trailer
        self.tlen = len(trailer)
        self.event = Terminator(kind)
        self.reset()

    def reset(self) -> None:
        """Forget every offset: the next scan reads a header at its *start*."""
        self.body = self.stop = self.rec_end = -1

    def idle(self, start: int) -> bool:
        """True if no state applies at or after *start* (a fast path may read from there)."""
        return self.rec_end < 0

    def _open(self, start: int, hend: int, count: int) -> Scan:
        """The header ``data[start:hend]`` announced *count* bytes."""
        if not count and not self.tlen:
            return start, hend, self.event  # the whole record: its header, then nothing
        self.body = hend
        self.stop = hend + count
        self.rec_end = self.stop + self.tlen
        return start, hend, HEADER

    def _record(self, data: bytearray, start: int, end: int, eof: bool) -> Scan:
        """The scan of a record in progress (``rec_end >= 0``)."""
        if start < self.body:
            return start, self.body, HEADER  # scanned again before its header was consumed
        stop = self.stop
        if end < stop or start > stop:  # payload so far (or, at EOF, a trailer's start)
            return end, -1, None
        rec_end = self.rec_end
        tlen = self.tlen
        if tlen and not (rec_end <= end and data.startswith(self.trailer, stop)):
            k = min(end - stop, tlen)
            bad = _mismatch(data, stop, self.trailer, k)
            if bad >= 0:
                _malformed(self.kind, data, stop, bad, f"is not the trailer {self.trailer!r}")
            if k < tlen:
                return (end if eof else stop), -1, None
        return stop, rec_end, self.event

    def rebase(self, shift: int) -> None:
        if self.rec_end >= 0:
            self.body -= shift
            self.stop -= shift
            self.rec_end -= shift

    def spec(self, start: int) -> TerminatorSpec:
        return self.kind


class StructReader(RecordReader):
    """:class:`~asyncframe.StructPrefix`: a packed unsigned length, then that many bytes."""

    __slots__ = ("hsize", "unpack_from")

    def __init__(self, kind: StructPrefix) -> None:
        packer = struct.Struct(kind.fmt)
        self.hsize = packer.size
        self.unpack_from = packer.unpack_from
        super().__init__(kind, b"")

    def scan(self, data: bytearray, start: int, end: int, eof: bool) -> Scan:
        if self.rec_end >= 0:
            return self._record(data, start, end, eof)
        hend = start + self.hsize
        if hend > end:
            return (end if eof else start), -1, None
        return self._open(start, hend, self.unpack_from(data, start)[0])

    def split_all(
        self,
        data: bytearray,
        start: int,
        line_limit: int,
        record_limit: int,
        max_frames: int,
        bound: int,
    ) -> tuple[list[bytes], int]:
        """Every complete record of ``data[start:bound]`` in one loop (see
        :meth:`MarkedReader.split_all`)."""
        # One copy of the window, then a bytes slice per frame: one object made
        # per frame instead of two (a view's slice, then its bytes), cheaper even
        # for 1,000-byte records. The caller's bound keeps the copy a constant
        # factor of the frames taken (a batch's window, say). The whole buffer
        # (a request after its reply) is copied without a view: a quarter the cost.
        window = bytes(data) if not start and bound >= len(data) else _window(data, start, bound)
        out: list[bytes] = []
        append = out.append
        unpack_from = self.unpack_from
        hsize = self.hsize
        end = len(window)
        last = end - hsize  # the last offset a header fits at
        pos = 0
        # No count in the loop (the hottest of the kinds): every record of the
        # window is split, and a count is applied after, from the sizes, as
        # every header has the same length.
        while pos <= last:
            (size,) = unpack_from(window, pos)
            body = pos + hsize
            stop = body + size
            if size > record_limit or stop > end:
                break
            append(window[body:stop])
            pos = stop
        if len(out) > max_frames:
            del out[max_frames:]
            pos = sum(map(len, out)) + max_frames * hsize
        if out:
            self.reset()
        return out, start + pos


class DecimalReader(RecordReader):
    """:class:`~asyncframe.DecimalPrefix`: digits, a separator, the bytes, a trailer."""

    __slots__ = ("separator",)

    def __init__(self, kind: DecimalPrefix) -> None:
        self.separator = kind.separator
        super().__init__(kind, kind.trailer)

    def scan(self, data: bytearray, start: int, end: int, eof: bool) -> Scan:
        if self.rec_end >= 0:
            return self._record(data, start, end, eof)
        if start == end:
            return end, -1, None
        found = _count(data, start, start, end, self.separator, self.kind)
        if found is None:
            return (end if eof else start), -1, None
        return self._open(start, found[1], found[0])

    def split_all(
        self,
        data: bytearray,
        start: int,
        line_limit: int,
        record_limit: int,
        max_frames: int,
        bound: int,
    ) -> tuple[list[bytes], int]:
        """Every complete record of ``data[start:bound]`` in one loop (see
        :meth:`MarkedReader.split_all`)."""
        # One copy of the window: see StructReader.split_all.
        window = bytes(data) if not start and bound >= len(data) else _window(data, start, bound)
        out: list[bytes] = []
        append = out.append
        separator = self.separator
        slen = len(separator)
        trailer = self.trailer
        tlen = self.tlen
        find = window.find
        startswith = window.startswith
        end = len(window)
        pos = 0
        left = max_frames
        while left:
            # The separator within the longest length, or the general path decides.
            sep = find(separator, pos, pos + MAX_DIGITS + slen)
            if sep <= pos:
                break
            digits = window[pos:sep]
            if not digits.isdigit():
                break
            body = sep + slen
            size = int(digits)
            stop = body + size
            if size > record_limit or stop + tlen > end:
                break
            if tlen and not startswith(trailer, stop):
                break
            append(window[body:stop])
            pos = stop + tlen
            left -= 1
        if out:
            self.reset()
        return out, start + pos


class MarkedReader(RecordReader):
    """:class:`~asyncframe.MarkedLines`: lines, and counted payloads their marked lines announce.

    An ordinary line is read by a :class:`BytesReader` of the line end. While
    one is in progress :attr:`in_line` is true, and once its line end is found
    :attr:`line_stop` is where that ends (``-1`` until then). Offsets may go
    below 0 when the buffer is compacted, so neither is a sentinel.
    """

    __slots__ = ("in_line", "line", "line_stop", "lines", "marker")

    records_only = False  # its lines end with Terminator(line)

    def __init__(self, kind: MarkedLines) -> None:
        self.marker = kind.marker
        self.line = kind.line
        self.lines = BytesReader(kind.line)
        super().__init__(kind, kind.line)

    def reset(self) -> None:
        # RecordReader.reset and the line reader's, written out (as rebase).
        self.body = self.stop = self.rec_end = -1
        self.in_line = False
        self.line_stop = -1
        lines = self.lines
        lines.at = -1
        lines.held = 0
        lines.stop = -1

    def idle(self, start: int) -> bool:
        return self.rec_end < 0 and (
            not self.in_line or (self.line_stop != -1 and self.line_stop <= start)
        )

    def scan(self, data: bytearray, start: int, end: int, eof: bool) -> Scan:
        if self.rec_end >= 0:
            return self._record(data, start, end, eof)
        if not self.in_line or (self.line_stop != -1 and self.line_stop <= start):
            # A frame starts here.
            marker = self.marker
            head = start + len(marker)
            if end <= head:
                # Too few bytes to tell a marked line (the marker, then a byte
                # that is not "-") from an ordinary one: wait, unless they
                # already differ from the marker or no more will come.
                if not eof and data[start:end] == marker[: end - start]:
                    self.in_line = False
                    return start, -1, None
            elif data.startswith(marker, start) and data[head] != 45:  # not b"-"
                found = _count(data, start, head, end, self.line, self.kind)
                self.in_line = False
                if found is None:
                    return (end if eof else start), -1, None
                return self._open(start, found[1], found[0])
            self.in_line = True
            self.line_stop = -1
        found_line = self.lines.scan(data, start, end, eof)
        if found_line[1] >= 0:
            self.line_stop = found_line[1]
        return found_line

    def rebase(self, shift: int) -> None:
        # RecordReader.rebase and the line reader's, written out: this runs on
        # every read that compacts the buffer (a request and its reply, say).
        if self.rec_end >= 0:
            self.body -= shift
            self.stop -= shift
            self.rec_end -= shift
        if self.line_stop != -1:
            self.line_stop -= shift
            if self.line_stop == -1:
                self.line_stop = -2  # still "found", before the buffer's start
        lines = self.lines
        lines.at -= shift
        if lines.stop >= 0:
            lines.stop -= shift

    def split_all(
        self,
        data: bytearray,
        start: int,
        line_limit: int,
        record_limit: int,
        max_frames: int,
        bound: int,
    ) -> tuple[list[bytes], int]:
        """Every complete line and record of ``data[start:bound]`` (*start* an
        :meth:`idle` offset), at most *max_frames*, in one loop.

        Returns the frames and the offset after the last one. It stops at the first
        frame it cannot take alone (incomplete, over a limit, malformed, or ending
        past *bound*): the parsing path then reads from there, finding the same
        frames. The bytes up to *bound* are copied once, so the caller's bound is
        what a call costs beyond the frames it returns.
        """
        # One copy of the window: see StructReader.split_all.
        window = bytes(data) if not start and bound >= len(data) else _window(data, start, bound)
        out: list[bytes] = []
        append = out.append
        line = self.line
        llen = len(line)
        marker = self.marker
        mlen = len(marker)
        first = marker[0]
        find = window.find
        startswith = window.startswith
        end = len(window)
        pos = 0
        left = max_frames
        while left:
            eol = find(line, pos, end)
            if eol < 0 or eol - pos > line_limit:
                break
            if eol > pos and window[pos] == first and (mlen == 1 or startswith(marker, pos)):
                head = pos + mlen
                if head >= eol:
                    break  # the marker alone, or across the line end: the general path decides
                if window[head] != 45:  # not b"-": a count
                    digits = window[head:eol]
                    if len(digits) > MAX_DIGITS or not digits.isdigit():
                        break
                    body = eol + llen
                    size = int(digits)
                    stop = body + size
                    if size > record_limit or stop + llen > end:
                        break
                    if not startswith(line, stop):
                        break
                    append(window[body:stop])
                    pos = stop + llen
                    left -= 1
                    continue
            append(window[pos:eol])
            pos = eol + llen
            left -= 1
        if out:
            self.reset()  # every offset it held lies before the frames taken
        return out, start + pos


Reader = (
    BytesReader
    | TupleReader
    | CountReader
    | RawReader
    | StructReader
    | DecimalReader
    | MarkedReader
)

#: The reader factory for each kind of (normalized) terminator.
READERS: dict[type, Callable[[TerminatorSpec], Reader]] = {
    bytes: BytesReader,  # type: ignore[dict-item]
    tuple: TupleReader,  # type: ignore[dict-item]
    int: CountReader,  # type: ignore[dict-item]
    type(None): lambda spec: RAW,
    StructPrefix: StructReader,  # type: ignore[dict-item]
    DecimalPrefix: DecimalReader,  # type: ignore[dict-item]
    MarkedLines: MarkedReader,  # type: ignore[dict-item]
}


def make_reader(spec: TerminatorSpec) -> Reader:
    """Return a fresh reader for a normalized terminator."""
    return READERS[type(spec)](spec)
