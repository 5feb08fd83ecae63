"""The floor: the least a ``next_event()``/``frames()`` parser can cost in CPython.

:class:`BareChannel` has the shape of :class:`asyncframe.Channel`'s reading API
and nothing else: one bytes terminator or a byte count, no frame limit, no
argument checks, no error state, no batching; it holds back ``len(terminator) - 1``
bytes instead of working out how many could start a terminator. Run through the
same loops as the channel, it shows how fast any pure-Python parser of this API
shape can be against the same peer, so the benchmark report can tell a target
that a better implementation would meet from one the API shape itself rules out.
It is correct for the benchmark inputs only (the loops check the frame counts).
"""

from __future__ import annotations

from collections.abc import Iterator

from asyncframe import NEED_DATA, Data, NeedData, Terminator

__all__ = ["BareChannel"]

_new = object.__new__
_set_data = Data.__dict__["data"].__set__


class BareChannel:
    """A bare parser with :class:`~asyncframe.Channel`'s reading API (see the module)."""

    def __init__(self, terminator: bytes | int = b"\r\n") -> None:
        self.data = bytearray()
        self.start = 0
        self.term: bytes | None = None
        self.count: int | None = None
        self.set_terminator(terminator)
        self.pending: tuple[Terminator, int] | None = None
        self.events: dict[bytes | int, Terminator] = {}

    def receive_data(self, chunk: bytes) -> None:
        if self.start:
            del self.data[: self.start]
            if self.pending is not None:
                self.pending = (self.pending[0], self.pending[1] - self.start)
            self.start = 0
        self.data += chunk

    def set_terminator(self, terminator: bytes | int | None) -> None:
        if type(terminator) is int:
            self.count, self.term = terminator, None
        else:
            self.count, self.term = None, terminator  # type: ignore[assignment]

    def _event(self, value: bytes | int) -> Terminator:
        event = self.events.get(value)
        if event is None:
            event = self.events[value] = Terminator(value)
        return event

    def next_event(self) -> Data | Terminator | NeedData:
        pending = self.pending
        if pending is not None:  # the terminator after a frame's Data
            self.pending = None
            self.start = pending[1]
            if self.count is not None:
                self.count = None
            return pending[0]
        data = self.data
        start = self.start
        if self.count is not None:
            pay_end = term_end = start + self.count
            if pay_end > len(data):
                return NEED_DATA
            event = self._event(self.count)
        else:
            term = self.term
            assert term is not None
            found = data.find(term, start)
            if found < 0:
                end = len(data) - len(term) + 1
                if end <= start:
                    return NEED_DATA
                item = _new(Data)
                _set_data(item, bytes(data[start:end]))
                self.start = end
                return item
            pay_end, term_end, event = found, found + len(term), self._event(term)
        if pay_end > start:
            item = _new(Data)
            _set_data(item, bytes(data[start:pay_end]))
            self.start = pay_end
            self.pending = (event, term_end)
            return item
        self.start = term_end
        if self.count is not None:
            self.count = None
        return event

    def frames(self) -> Iterator[bytes]:
        while True:
            data = self.data
            start = self.start
            if self.count is not None:
                stop = start + self.count
                if stop > len(data):
                    return
                self.count = None
                self.start = stop
                yield bytes(data[start:stop])
            else:
                term = self.term
                assert term is not None
                found = data.find(term, start)
                if found < 0:
                    return
                self.start = found + len(term)
                yield bytes(data[start:found])
