"""A stateful hypothesis test of Channel: random interleavings of every operation,
checked against a simple model after each step.

Inbound, the model keeps every byte received and the channel's reported stream
(payload plus matched terminator bytes); what is reported plus what is still
buffered must always be exactly what was received. Outbound, the model keeps the
bytes pushed (producers expanded) and what was taken; taking must follow it.

The channel runs with a small frame limit (or none). Once a frame was rejected
(FrameTooLong, its bytes skipped) the exact accounting gives way to a weaker one:
what is reported still comes from the received bytes, in order; and no reported
frame, nor the Data of one frame, is ever over the limit.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from asyncframe import (
    NEED_DATA,
    Channel,
    ConnectionClosed,
    Data,
    FrameTooLong,
    SendAfterClose,
    Terminator,
    TerminatorSpec,
)

ALPHABET = b"ab\r\n."
chunks = st.binary(min_size=1, max_size=30).map(
    lambda raw: bytes(ALPHABET[b % len(ALPHABET)] for b in raw)
)
byte_terms = st.sampled_from([b"\n", b"\r\n", b"ab", b"aa", b"\r\n.\r\n", b"a"])
terminators: st.SearchStrategy[TerminatorSpec] = st.one_of(
    byte_terms,
    st.integers(min_value=0, max_value=15),
    st.none(),
    st.lists(byte_terms, min_size=1, max_size=3).map(tuple),
)


class ChannelMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ch = Channel(b"\n")
        self.limit: int | None = None
        self.rejected = False  # a frame was rejected: exact accounting is off
        self.cursor = 0  # where the reported bytes were last found in `received`
        self.received = bytearray()  # every byte given to receive_data (since a discard)
        self.reported = bytearray()  # payload and matched terminator bytes reported
        self.eof = False
        self.closed_seen = False
        self.pushed = bytearray()  # bytes that must come out, in order
        self.taken = bytearray()
        self.closing = False
        self.peeked = 0
        self.last_payload = bytearray()  # payload since the last event boundary

    # -- inbound -----------------------------------------------------------------------

    @initialize(limit=st.one_of(st.none(), st.integers(min_value=1, max_value=16)))
    def set_limit(self, limit: int | None) -> None:
        # One limit for delimited frames and counts alike (a count is bounded by
        # max_record_size), so the model's one limit holds for every frame.
        self.ch = Channel(b"\n", max_frame_size=limit, max_record_size=limit)
        self.limit = limit

    def report(self, data: bytes) -> None:
        """Record reported bytes; after a rejection, find them in order in what was received."""
        if self.rejected:
            found = bytes(self.received).find(data, self.cursor)
            assert found >= 0, "reported bytes that were not received (in this order)"
            self.cursor = found + len(data)
        self.reported += data

    def reject(self) -> None:
        self.rejected = True
        self.last_payload.clear()
        self.cursor = max(self.cursor, len(self.reported))

    @precondition(lambda self: not self.eof)
    @rule(data=chunks)
    def receive(self, data: bytes) -> None:
        self.ch.receive_data(data)
        self.received += data

    @precondition(lambda self: not self.eof)
    @rule()
    def eof_(self) -> None:
        self.ch.receive_data(b"")
        self.eof = True

    @precondition(lambda self: self.eof)
    @rule(data=chunks)
    def data_after_eof_is_refused(self, data: bytes) -> None:
        before = self.ch.buffered_input
        try:
            self.ch.receive_data(data)
        except ValueError:
            pass
        else:
            raise AssertionError("data after EOF was accepted")
        assert self.ch.buffered_input == before

    @rule(term=terminators)
    def set_terminator(self, term: TerminatorSpec) -> None:
        self.ch.set_terminator(term)
        self.last_payload.clear()

    @rule(count=st.integers(min_value=1, max_value=10))
    def read_events(self, count: int) -> None:
        for _ in range(count):
            term = self.ch.terminator
            try:
                event = self.ch.next_event()
            except FrameTooLong:
                assert term is not None
                assert self.limit is not None
                self.reject()
                return
            if event is NEED_DATA:
                assert not self.eof or self.ch.buffered_input > 0 or self.closed_seen
                return
            if type(event) is Data:
                assert event.data
                self.report(event.data)
                self.last_payload += event.data
                # (A call that finishes skipping a rejected count may go on to report
                # raw data: the terminator then reads None, and no limit applies.)
                if self.limit is not None and term is not None and self.ch.terminator is not None:
                    assert len(self.last_payload) <= self.limit
            elif type(event) is Terminator:
                matched = event.terminator
                if isinstance(matched, bytes):
                    options = term if isinstance(term, tuple) else (term,)
                    assert matched in options
                    # No option matched earlier: none starts inside the payload and
                    # ends before the match's last byte. (A shorter option starting
                    # where the match starts is allowed: the longest at a position wins.)
                    seen = bytes(self.last_payload) + matched[:-1]
                    if not self.rejected:
                        for option in options:
                            assert option not in seen[: len(self.last_payload) + len(option) - 1]
                    self.report(matched)
                else:
                    assert isinstance(term, int)
                self.last_payload.clear()
            else:
                assert type(event) is ConnectionClosed
                assert self.eof
                self.closed_seen = True
                assert self.ch.buffered_input == 0

    @rule(stop_after=st.integers(min_value=1, max_value=4))
    def read_frames(self, stop_after: int) -> None:
        """Read whole frames, breaking out of frames() after *stop_after* of them."""
        term = self.ch.terminator
        try:
            for n, frame in enumerate(self.ch.frames(), 1):
                if self.limit is not None:
                    assert len(frame) <= self.limit
                self.report(frame)
                if isinstance(term, bytes):
                    # frames() consumed the terminator after the frame.
                    self.report(term)
                elif isinstance(term, tuple):
                    if self.rejected:
                        # Positions are only known in order now: the terminator is
                        # the first of the tuple found after the frame (the longest
                        # at one position).
                        received = bytes(self.received)
                        found = [(received.find(t, self.cursor), -len(t), t) for t in term]
                        matched = min(f for f in found if f[0] >= 0)[2]
                    else:
                        rest = bytes(self.received[len(self.reported) :])
                        matched = max((t for t in term if rest.startswith(t)), key=len)
                    self.report(matched)
                self.last_payload.clear()
                term = self.ch.terminator
                if n == stop_after:
                    break
        except FrameTooLong:
            assert term is not None
            assert self.limit is not None
            self.reject()
        # frames() never leaves a partly reported frame behind.

    @invariant()
    def reported_plus_buffered_is_received(self) -> None:
        if self.rejected:
            assert self.ch.buffered_input <= len(self.received) - self.cursor
            return
        buffered = self.ch.buffered_input
        assert len(self.reported) + buffered == len(self.received)
        assert self.received.startswith(self.reported)

    # -- outbound ----------------------------------------------------------------------

    @rule(data=st.binary(max_size=40))
    def push(self, data: bytes) -> None:
        if self.closing:
            try:
                self.ch.push(data)
            except SendAfterClose:
                return
            raise AssertionError("push after close_when_done was accepted")
        self.ch.push(data)
        self.pushed += data

    @rule(parts=st.lists(st.binary(max_size=20), max_size=4))
    def push_producer(self, parts: list[bytes]) -> None:
        if self.closing:
            return
        self.ch.push_with_producer(iter(parts))
        self.pushed += b"".join(parts)

    @rule(size=st.integers(min_value=0, max_value=64), accept=st.integers(0, 64))
    def partial_write(self, size: int, accept: int) -> None:
        view = self.ch.peek_output(size)
        assert self.pushed[len(self.taken) :].startswith(view)
        n = min(accept, len(view))
        self.ch.consume_output(n)
        self.taken += view[:n]

    @rule(size=st.one_of(st.none(), st.integers(min_value=0, max_value=64)))
    def take(self, size: int | None) -> None:
        data = self.ch.data_to_send(size)
        if size is not None:
            assert len(data) <= size
        self.taken += data
        assert self.pushed.startswith(self.taken)
        if size is None:
            assert self.taken == self.pushed
            assert self.ch.wants_close == self.closing  # producers are known empty now

    @rule()
    def close_when_done(self) -> None:
        self.ch.close_when_done()
        self.closing = True

    @rule()
    def discard(self) -> None:
        self.ch.discard_buffers()
        # Input: what was buffered is gone; the model forgets it.
        if self.rejected:
            self.received = bytearray(self.received[: self.cursor])
        else:
            del self.received[len(self.reported) :]
        self.pushed = bytearray(self.taken)
        self.closing = False
        self.last_payload.clear()

    @invariant()
    def output_follows_the_model(self) -> None:
        assert self.pushed.startswith(self.taken)
        if self.ch.wants_close:
            assert self.closing
            assert self.taken == self.pushed
        if self.closing and self.taken == self.pushed and not self.ch.has_output():
            assert self.ch.wants_close


ChannelMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_channel_state_machine = ChannelMachine.TestCase
