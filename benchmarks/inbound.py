"""Inbound framing benchmarks of the core against its peers.

Every contender gets the very same list of chunks, in one process, and does the same
work per frame (collect the frame's bytes, count it):

- ``next_event()`` loop against the stdlib ``asynchat.async_chat.handle_read``
  (10-byte lines in 64 KiB reads, target 3x; in 4 KiB reads, target 1.5x);
- ``frames()`` against Twisted's ``LineOnlyReceiver`` and an asyncio
  ``StreamReader.readuntil`` loop (10-byte lines in 64 KiB reads; targets 1.25x
  Twisted, 1x asyncio);
- ``complete_frames()`` (every complete frame of a read as one list, for batch
  dispatch) against ``list(frames())`` and Twisted, on the same lines (no target);
- length-prefixed frames (a ``b"%d\r\n"`` header, then a byte count for the
  payload, every frame; 8- and 50-byte payloads in 64 KiB reads), ``next_event()``
  and ``frames()`` against the stdlib ``asynchat`` (target 1.5x);
- one 2 MB line in 1 KiB reads, ``frames()`` against the same two peers (targets
  100x Twisted, whose buffering is quadratic here, and 1x asyncio), and
  ``next_event()`` against the stdlib ``asynchat`` (target 1x);
- the *floor* rows: the same length-prefixed and 2 MB loops run on a bare parser
  (``_floor.BareChannel``: the reading API with no frame limit, no checks, no
  error state) against the same peer, no target. They bound what any
  pure-Python parser of this API shape can reach there.

Peers that are not importable are left out of the table, with a note.

Run: ``python -m benchmarks --only inbound`` from a checkout.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

from asyncframe import NEED_DATA, Channel, Data

from ._floor import BareChannel
from .common import OnResult, Result, compare

__all__ = ["lines_chunks", "run"]

LINE = b"abcdefgh\r\n"  # a 10-byte line


def lines_chunks(total: int, read_size: int = 65536) -> list[bytes]:
    """Return *total* bytes of 10-byte lines, cut into reads of *read_size* bytes."""
    data = LINE * (total // len(LINE))
    return [data[i : i + read_size] for i in range(0, len(data), read_size)]


def prefixed_chunks(total: int, payload: int, read_size: int = 65536) -> list[bytes]:
    """Return about *total* bytes of length-prefixed frames of *payload* bytes, in reads."""
    frame = b"%d\r\n" % payload + b"p" * payload
    data = frame * (total // len(frame))
    return [data[i : i + read_size] for i in range(0, len(data), read_size)]


def long_line_chunks(size: int, read_size: int = 1024) -> list[bytes]:
    """Return one *size*-byte line (terminator included), cut into *read_size* reads."""
    data = b"x" * (size - 2) + b"\r\n"
    return [data[i : i + read_size] for i in range(0, len(data), read_size)]


# -- asyncframe -----------------------------------------------------------------------


def asyncframe_next_event(
    chunks: list[bytes], max_frame_size: int = 65536, make: Callable[[], Any] | None = None
) -> int:
    """Frame *chunks* with a ``next_event()`` loop; return the number of frames.

    *make* builds the parser instead of a :class:`Channel` (the floor rows).
    """
    ch = Channel(b"\r\n", max_frame_size=max_frame_size) if make is None else make()
    parts: list[bytes] = []
    frames = 0
    for chunk in chunks:
        ch.receive_data(chunk)
        while True:
            event = ch.next_event()
            if event is NEED_DATA:
                break
            if type(event) is Data:
                parts.append(event.data)
            else:
                b"".join(parts)
                parts.clear()
                frames += 1
    return frames


def asyncframe_prefixed_next_event(chunks: list[bytes], make: Callable[[], Any] = Channel) -> int:
    """Frame length-prefixed *chunks* with a ``next_event()`` loop; return the payloads."""
    ch = make()
    receive = ch.receive_data
    next_event = ch.next_event
    set_terminator = ch.set_terminator
    parts: list[bytes] = []
    header = True
    frames = 0
    for chunk in chunks:
        receive(chunk)
        while True:
            event = next_event()
            if event is NEED_DATA:
                break
            if type(event) is Data:
                parts.append(event.data)
                continue
            frame = b"".join(parts)
            parts.clear()
            if header:
                set_terminator(int(frame))
            else:
                frames += 1
                set_terminator(b"\r\n")
            header = not header
    return frames


def asyncframe_prefixed_frames(chunks: list[bytes], make: Callable[[], Any] = Channel) -> int:
    """Frame length-prefixed *chunks* with ``frames()``; return the payloads."""
    ch = make()
    receive = ch.receive_data
    set_terminator = ch.set_terminator
    out: list[bytes] = []
    header = True
    for chunk in chunks:
        receive(chunk)
        for frame in ch.frames():
            if header:
                set_terminator(int(frame))
            else:
                out.append(frame)
                set_terminator(b"\r\n")
            header = not header
    return len(out)


def asyncframe_complete_frames(chunks: list[bytes]) -> int:
    """Frame *chunks* with ``complete_frames()``; return the number of frames."""
    ch = Channel(b"\r\n")
    out: list[bytes] = []
    receive = ch.receive_data
    complete_frames = ch.complete_frames
    for chunk in chunks:
        receive(chunk)
        out += complete_frames()
    return len(out)


def asyncframe_frames(chunks: list[bytes], max_frame_size: int = 65536) -> int:
    """Frame *chunks* with ``frames()``; return the number of frames."""
    ch = Channel(b"\r\n", max_frame_size=max_frame_size)
    out: list[bytes] = []
    receive = ch.receive_data
    frames = ch.frames
    for chunk in chunks:
        receive(chunk)
        for frame in frames():
            out.append(frame)
    return len(out)


# -- peers ------------------------------------------------------------------------------


def stdlib_asynchat(chunks: list[bytes], prefixed: bool = False) -> Callable[[], int] | None:
    """Return a runner of the stdlib ``async_chat.handle_read`` over *chunks*, or None.

    With *prefixed*, the frames are length-prefixed: a header line, then a count.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import asynchat
    except ImportError:
        return None

    class Chat(asynchat.async_chat):
        def __init__(self) -> None:
            super().__init__(sock=None, map={})
            self.set_terminator(b"\r\n")
            self.ac_in_buffer_size = 65536
            self.parts: list[bytes] = []
            self.frames = 0
            self.header = True
            self.feed: list[bytes] = []

        def recv(self, buffer_size: int) -> bytes:
            return self.feed.pop()

        def collect_incoming_data(self, data: bytes) -> None:
            self.parts.append(data)

        def found_terminator(self) -> None:
            frame = b"".join(self.parts)
            self.parts.clear()
            if not prefixed:
                self.frames += 1
            elif self.header:
                self.set_terminator(int(frame))
            else:
                self.frames += 1
                self.set_terminator(b"\r\n")
            self.header = not self.header

    def runner() -> int:
        chat = Chat()
        chat.feed = chunks[::-1]
        for _ in range(len(chunks)):
            chat.handle_read()
        return chat.frames

    return runner


def twisted_line_only(chunks: list[bytes], max_length: int = 16384) -> Callable[[], int] | None:
    """Return a runner of Twisted's ``LineOnlyReceiver`` over *chunks*, or None."""
    try:
        from twisted.internet.testing import StringTransport
        from twisted.protocols.basic import LineOnlyReceiver
    except ImportError:
        return None
    transport: Any = StringTransport

    class Lines(LineOnlyReceiver):  # type: ignore[misc,unused-ignore]
        MAX_LENGTH = max_length

        def connectionMade(self) -> None:
            self.out: list[bytes] = []

        def lineReceived(self, line: bytes) -> None:
            self.out.append(line)

    def runner() -> int:
        proto: Any = Lines()
        proto.makeConnection(transport())
        received = proto.dataReceived
        for chunk in chunks:
            received(chunk)
        return len(proto.out)

    return runner


def asyncio_readuntil(chunks: list[bytes], limit: int = 65536) -> Callable[[], int]:
    """Return a runner of an asyncio ``StreamReader.readuntil`` loop over *chunks*."""

    async def main() -> int:
        reader = asyncio.StreamReader(limit=limit)
        out: list[bytes] = []

        async def feed() -> None:
            for chunk in chunks:
                reader.feed_data(chunk)
                await asyncio.sleep(0)
            reader.feed_eof()

        feeder = asyncio.create_task(feed())
        readuntil = reader.readuntil
        while True:
            try:
                line = await readuntil(b"\r\n")
            except asyncio.IncompleteReadError:
                break
            out.append(line[:-2])
        await feeder
        return len(out)

    loop = asyncio.new_event_loop()

    def runner() -> int:
        return loop.run_until_complete(main())

    return runner


# -- the suite --------------------------------------------------------------------------


def run(
    quick: bool = False, repeat: int | None = None, on_result: OnResult | None = None
) -> list[Result]:
    """Run the inbound benchmarks and return their results (each also given to *on_result*)."""
    rounds = repeat if repeat is not None else (3 if quick else 5)
    total = (1 << 19) if quick else (1 << 21)
    long_size = 2_000_000
    short = lines_chunks(total)
    long = long_line_chunks(long_size)
    expected_short = total // len(LINE)
    results: list[Result] = []

    def add(result: Result) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    def check(label: str, func: Callable[[], int], expected: int) -> Callable[[], int]:
        got = func()
        if got != expected:
            raise AssertionError(f"{label} framed {got} frames, expected {expected}")
        return func

    ours_events = check("next_event", lambda: asyncframe_next_event(short), expected_short)
    small = lines_chunks(total, 4096)  # the same lines in the reads a small buffer gives
    ours_small = check("next_event 4K", lambda: asyncframe_next_event(small), expected_short)
    ours_frames = check("frames", lambda: asyncframe_frames(short), expected_short)
    ours_list = check("complete_frames", lambda: asyncframe_complete_frames(short), expected_short)
    ours_long = check("frames 2MB", lambda: asyncframe_frames(long, 4 << 20), 1)
    ours_long_events = check("next_event 2MB", lambda: asyncframe_next_event(long, 4 << 20), 1)

    def row(
        name: str,
        ours: Callable[[], int],
        peer: str,
        theirs: Callable[[], int] | None,
        target: float | None,
        expected: int,
        rounds_: int = rounds,
    ) -> None:
        if theirs is None:
            return
        check(peer, theirs, expected)
        add(compare(name, ours, peer, theirs, repeat=rounds_, target=target))

    lines = "10-byte lines, 64 KiB reads"
    row(
        f"next_event(), {lines}",
        ours_events,
        "stdlib asynchat handle_read",
        stdlib_asynchat(short),
        3.0,
        expected_short,
    )
    row(
        "next_event(), 10-byte lines, 4 KiB reads",
        ours_small,
        "stdlib asynchat handle_read",
        stdlib_asynchat(small),
        1.5,
        expected_short,
    )
    row(
        f"frames(), {lines}",
        ours_frames,
        "Twisted LineOnlyReceiver",
        twisted_line_only(short),
        1.25,
        expected_short,
    )
    row(
        f"frames(), {lines}",
        ours_frames,
        "asyncio readuntil loop",
        asyncio_readuntil(short),
        1.0,
        expected_short,
    )
    row(
        f"complete_frames(), {lines}",
        ours_list,
        "list(frames()) of asyncframe",
        lambda: asyncframe_frames(short),
        None,
        expected_short,
    )
    row(
        f"complete_frames(), {lines}",
        ours_list,
        "Twisted LineOnlyReceiver",
        twisted_line_only(short),
        None,
        expected_short,
    )
    for size in (8, 50):
        chunks = prefixed_chunks(total, size)
        expected = sum(map(len, chunks)) // len(b"%d\r\n" % size + b"p" * size)
        peer = stdlib_asynchat(chunks, prefixed=True)
        name = f"length-prefixed {size}-byte payloads, 64 KiB reads"
        row(
            f"next_event(), {name}",
            check("prefixed next_event", partial(asyncframe_prefixed_next_event, chunks), expected),
            "stdlib asynchat handle_read",
            peer,
            1.5,
            expected,
        )
        row(
            f"frames(), {name}",
            check("prefixed frames", partial(asyncframe_prefixed_frames, chunks), expected),
            "stdlib asynchat handle_read",
            peer,
            1.5,
            expected,
        )
        for api, loop in (
            ("next_event()", asyncframe_prefixed_next_event),
            ("frames()", asyncframe_prefixed_frames),
        ):
            row(
                f"floor: bare {api}, {name}",
                check(f"bare {api}", partial(loop, chunks, BareChannel), expected),
                "stdlib asynchat handle_read",
                peer,
                None,
                expected,
            )
    big = "one 2 MB line, 1 KiB reads"
    row(
        f"next_event(), {big}",
        ours_long_events,
        "stdlib asynchat handle_read",
        stdlib_asynchat(long),
        1.0,
        1,
    )
    row(
        f"floor: bare next_event(), {big}",
        check("bare next_event 2MB", lambda: asyncframe_next_event(long, make=BareChannel), 1),
        "stdlib asynchat handle_read",
        stdlib_asynchat(long),
        None,
        1,
    )
    row(
        f"frames(), {big}",
        ours_long,
        "Twisted LineOnlyReceiver",
        twisted_line_only(long, max_length=4 << 20),
        100.0,
        1,
        max(1, rounds // 2),
    )
    row(
        f"frames(), {big}",
        ours_long,
        "asyncio readuntil loop",
        asyncio_readuntil(long, limit=4 << 20),
        1.0,
        1,
    )
    return results


def missing_peers() -> list[str]:
    """Name the peers that could not be imported (their rows are left out)."""
    missing = []
    if stdlib_asynchat([]) is None:
        missing.append("stdlib asynchat (removed in Python 3.12)")
    if twisted_line_only([]) is None:
        missing.append('Twisted (pip install "asyncframe[bench]")')
    return missing
