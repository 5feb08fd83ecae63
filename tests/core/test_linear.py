"""Linear time, shown by counting work (bytes searched and copied), not by timing.

The framer's buffer type is swapped for a bytearray subclass that counts what its
search and slice methods touch. Feeding a large frame one byte at a time must cost
a small constant times its size, whatever the terminator and the reading API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsIndex

import pytest

from asyncframe import Channel, Data, Terminator, TerminatorSpec


class CountingBuffer(bytearray):
    """A bytearray that counts the bytes its searches scan and its slices copy."""

    work = 0

    def find(
        self, sub: Any, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:  # type: ignore[override]
        lo = 0 if start is None else int(start)
        hi = len(self) if end is None else min(int(end), len(self))
        found = super().find(sub, lo, hi)
        width = len(sub) if isinstance(sub, (bytes, bytearray)) else 1
        CountingBuffer.work += (found + width if found >= 0 else hi) - lo
        return found

    def rfind(
        self, sub: Any, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:  # type: ignore[override]
        lo = 0 if start is None else int(start)
        hi = len(self) if end is None else min(int(end), len(self))
        found = super().rfind(sub, lo, hi)
        CountingBuffer.work += hi - (found if found >= 0 else lo)
        return found

    def __getitem__(self, index: Any) -> Any:
        result = super().__getitem__(index)
        if isinstance(index, slice):
            CountingBuffer.work += len(result)
        return result


class CountingChannel(Channel):
    _buffer_type = CountingBuffer


@pytest.fixture(autouse=True)
def _reset() -> None:
    CountingBuffer.work = 0


SIZE = 200_000  # large enough that quadratic work would be 10^10
HUGE = 128 * 1024


def feed_bytewise(ch: Channel, data: bytes, read: Callable[[Channel], object]) -> None:
    for i in range(len(data)):
        ch.receive_data(data[i : i + 1])
        read(ch)


def drain_events(ch: Channel) -> None:
    for _ in ch.events():
        pass


def drain_frames(ch: Channel) -> None:
    for _ in ch.frames():
        pass


@pytest.mark.parametrize(
    ("terminator", "data"),
    [
        (b"\r\n", b"x" * SIZE + b"\r\n"),
        (b"\r\n", b"\r" * SIZE + b"\r\n"),  # every byte could start the terminator
        (b"<END>", b"<EN" * (SIZE // 3) + b"<END>"),
        (b"aa", b"a" * SIZE),  # overlaps itself: the non-batched path
        ((b"\r", b"\r\n", b"<END>"), b"<EN" * (SIZE // 3) + b"\r\n"),
        (SIZE, b"x" * SIZE),
        # A 128 KiB terminator: every byte received extends a held-back prefix of
        # it, so a search that started over at the held-back bytes would be quadratic.
        (b"x" * HUGE + b"!", b"x" * (HUGE + 30_000) + b"!"),
        (b"x" * HUGE + b"!", b"xy" * 15_000 + b"x" * HUGE + b"!"),
        ((b"x" * HUGE + b"!", b"\r\n"), b"x" * (HUGE + 30_000) + b"\r\n"),
    ],
    ids=[
        "crlf",
        "all-cr",
        "long-prefixes",
        "self-overlap",
        "tuple",
        "count",
        "128k-term",
        "128k-term-restarts",
        "128k-in-tuple",
    ],
)
@pytest.mark.parametrize("read", [drain_events, drain_frames], ids=["events", "frames"])
def test_one_large_frame_fed_one_byte_at_a_time(
    terminator: TerminatorSpec, data: bytes, read: Callable[[Channel], None]
) -> None:
    ch = CountingChannel(terminator, max_frame_size=4 * SIZE)
    feed_bytewise(ch, data, read)
    assert CountingBuffer.work <= 20 * len(data), CountingBuffer.work


@pytest.mark.parametrize("read", [drain_events, drain_frames], ids=["events", "frames"])
def test_many_short_frames_in_one_chunk(read: Callable[[Channel], None]) -> None:
    data = b"abcdefgh\r\n" * 50_000
    ch = CountingChannel(b"\r\n")
    ch.receive_data(data)
    read(ch)
    assert ch.buffered_input == 0
    assert CountingBuffer.work <= 10 * len(data), CountingBuffer.work


def test_terminator_changes_after_every_event_stay_linear() -> None:
    """The worst case for batching: every batch is dropped after one event."""
    data = b"abcdefgh\r\n" * 20_000
    ch = CountingChannel(b"\r\n")
    ch.receive_data(data)
    seen = 0
    for event in ch.events():
        ch.set_terminator(b"\r\n")
        seen += type(event) is Terminator
    assert seen == 20_000
    assert CountingBuffer.work <= 40 * len(data), CountingBuffer.work


def test_the_counter_sees_quadratic_work() -> None:
    """The instrument itself: re-slicing the tail per frame would be caught."""
    buf = CountingBuffer(b"x\n" * 2000)
    pos = 0
    while (idx := buf.find(b"\n", pos)) >= 0:
        buf[idx + 1 :]  # the quadratic pattern asynchat uses
        pos = idx + 1
    assert CountingBuffer.work > 20 * len(buf)


def test_counting_channel_really_uses_the_counting_buffer() -> None:
    ch = CountingChannel(b"\n")
    ch.receive_data(b"a\n")
    assert list(ch.events()) == [Data(b"a"), Terminator(b"\n")]
    assert CountingBuffer.work > 0
