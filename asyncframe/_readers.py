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

from collections.abc import Callable
from functools import lru_cache

from ._events import Terminator, TerminatorSpec

__all__ = ["READERS", "Reader", "held_back", "make_reader"]

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

Reader = BytesReader | TupleReader | CountReader | RawReader

#: The reader factory for each kind of (normalized) terminator.
READERS: dict[type, Callable[[TerminatorSpec], Reader]] = {
    bytes: BytesReader,  # type: ignore[dict-item]
    tuple: TupleReader,  # type: ignore[dict-item]
    int: CountReader,  # type: ignore[dict-item]
    type(None): lambda spec: RAW,
}


def make_reader(spec: TerminatorSpec) -> Reader:
    """Return a fresh reader for a normalized terminator."""
    return READERS[type(spec)](spec)
