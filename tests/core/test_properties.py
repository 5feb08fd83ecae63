"""Hypothesis properties of the inbound state machine, checked against a naive model."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncframe import (
    NEED_DATA,
    Channel,
    ConnectionClosed,
    Data,
    Event,
    FrameTooLong,
    Terminator,
    TerminatorSpec,
)

from .model import TOO_LONG, Frame, frame_all

ALPHABET = b"ab\r\n.x"
BYTES_TERMINATORS = [b"\n", b"\r\n", b"a", b"ab", b"aa", b"aba", b"\r\n.\r\n", b"xab"]

byte_streams = st.binary(max_size=300).map(
    lambda raw: bytes(ALPHABET[b % len(ALPHABET)] for b in raw)
)
bytes_terminators = st.sampled_from(BYTES_TERMINATORS)
terminators: st.SearchStrategy[TerminatorSpec] = st.one_of(
    bytes_terminators,
    st.integers(min_value=0, max_value=12),
    st.none(),
    st.lists(bytes_terminators, min_size=1, max_size=3).map(tuple),
)
# A program of zero counts alone would frame empty frames for ever.
programs = st.lists(terminators, min_size=1, max_size=5).filter(
    lambda program: any(term != 0 or type(term) is not int for term in program)
)
limits = st.integers(min_value=1, max_value=16)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Split *data* at random cut points (every split is reachable)."""
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=max(1, len(data) - 1)))))
    cuts = [c for c in cuts if c < len(data)]
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def run_events(
    chunks: Sequence[bytes],
    program: Sequence[TerminatorSpec],
    *,
    use_events: bool,
    limit: int | None = None,
) -> tuple[list[Frame | str], bytes, int]:
    """Feed *chunks* then EOF, following *program*; return outcomes, tail, max held back.

    A FrameTooLong is an outcome; the terminator does not change after it.
    """
    ch = Channel(program[0], max_frame_size=limit, max_record_size=limit)
    frames: list[Frame | str] = []
    payload: list[bytes] = []
    k = 0
    held = 0

    def events() -> Iterator[Event]:
        if use_events:
            yield from ch.events()
            return
        while (event := ch.next_event()) is not NEED_DATA:
            yield event
            if type(event) is ConnectionClosed:
                return

    def drain() -> bool:
        """React to each event as it comes (a terminator change applies at once)."""
        nonlocal k
        while True:
            try:
                for event in events():
                    if type(event) is Data:
                        assert event.data
                        payload.append(event.data)
                        assert (
                            limit is None
                            or ch.terminator is None
                            or (sum(map(len, payload)) <= limit)
                        )
                    elif type(event) is Terminator:
                        frames.append((b"".join(payload), event.terminator))
                        payload.clear()
                        k += 1
                        ch.set_terminator(program[k % len(program)])
                    else:
                        return True
                return False
            except FrameTooLong:
                frames.append(TOO_LONG)
                payload.clear()

    for chunk in chunks:
        ch.receive_data(chunk)
        drain()
        held = max(held, ch.buffered_input)
    ch.receive_data(b"")
    assert drain()
    assert ch.buffered_input == 0
    return frames, b"".join(payload), held


def longest(program: Sequence[TerminatorSpec]) -> int:
    sizes = [1]
    for term in program:
        if isinstance(term, bytes):
            sizes.append(len(term))
        elif isinstance(term, tuple):
            sizes.extend(map(len, term))
    return max(sizes)


@settings(max_examples=400)
@given(data=st.data(), stream=byte_streams, program=programs, use_events=st.booleans())
def test_events_match_the_model_for_any_chunking(
    data: st.DataObject, stream: bytes, program: list[TerminatorSpec], use_events: bool
) -> None:
    chunks = data.draw(chunked(stream))
    frames, tail, held = run_events(chunks, program, use_events=use_events)
    assert (frames, tail) == frame_all(stream, program)
    # Nothing lost or duplicated: payloads, matched terminators and the tail rebuild the input.
    rebuilt = (
        b"".join(p + (t if isinstance(t, bytes) else b"") for p, t in frames if p != TOO_LONG)
        + tail
    )
    assert rebuilt == stream
    # Bounded memory: what stays unreported is at most a terminator's length minus one.
    assert held <= longest(program) - 1


@settings(max_examples=300)
@given(data=st.data(), stream=byte_streams, program=programs)
def test_chunking_invariance(
    data: st.DataObject, stream: bytes, program: list[TerminatorSpec]
) -> None:
    one = run_events([stream] if stream else [], program, use_events=True)[:2]
    many = run_events(data.draw(chunked(stream)), program, use_events=False)[:2]
    single_bytes = run_events(
        [stream[i : i + 1] for i in range(len(stream))], program, use_events=True
    )[:2]
    assert one == many == single_bytes


def run_frames(
    chunks: Sequence[bytes],
    program: Sequence[TerminatorSpec],
    stop_after: int,
    limit: int | None = 1 << 20,
) -> tuple[list[bytes | str], bytes]:
    """Drive frames() (breaking out every *stop_after* frames), then read the trailing data.

    A FrameTooLong is an outcome; the terminator does not change after it.
    """
    ch = Channel(program[0], max_frame_size=limit, max_record_size=limit)
    frames: list[bytes | str] = []
    k = 0
    for chunk in [*chunks, b""]:
        ch.receive_data(chunk)
        progress = True
        while progress:
            progress = False
            try:
                for n, frame in enumerate(ch.frames(), 1):
                    frames.append(frame)
                    k += 1
                    ch.set_terminator(program[k % len(program)])
                    progress = True
                    if n % stop_after == 0:
                        break
            except FrameTooLong:
                frames.append(TOO_LONG)
                progress = True
    return frames, ch.trailing_data


@settings(max_examples=300)
@given(
    data=st.data(),
    stream=byte_streams,
    program=programs,
    stop_after=st.integers(min_value=1, max_value=4),
)
def test_frames_match_the_model(
    data: st.DataObject, stream: bytes, program: list[TerminatorSpec], stop_after: int
) -> None:
    expected, tail = frame_all(stream, program)
    frames, trailing = run_frames(data.draw(chunked(stream)), program, stop_after)
    assert frames == [payload for payload, _ in expected]
    assert trailing == tail


def payloads(outcomes: list[Frame | str]) -> list[bytes | str]:
    return [o if o == TOO_LONG else o[0] for o in outcomes]  # type: ignore[index]


# The frame limit, with tiny limits: the same complete frames and the same
# FrameTooLong outcomes whatever the chunking, on next_event() and on frames().
limit_programs = st.one_of(
    st.lists(bytes_terminators, min_size=1, max_size=3),
    st.lists(
        st.lists(bytes_terminators, min_size=1, max_size=3).map(tuple), min_size=1, max_size=3
    ),
    st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=3).filter(any),
)


@settings(max_examples=300)
@given(data=st.data(), stream=byte_streams, program=limit_programs, limit=limits)
def test_frame_limit_on_next_event_is_the_same_for_every_chunking(
    data: st.DataObject, stream: bytes, program: list[TerminatorSpec], limit: int
) -> None:
    expected = frame_all(stream, program, limit)
    for chunks in ([stream], data.draw(chunked(stream)), [bytes([b]) for b in stream]):
        outcomes, tail, _ = run_events(chunks, program, use_events=False, limit=limit)
        assert (outcomes, tail) == expected


@settings(max_examples=300)
@given(
    data=st.data(),
    stream=byte_streams,
    program=limit_programs,
    limit=limits,
    stop_after=st.integers(min_value=1, max_value=3),
)
def test_frame_limit_on_frames_is_the_same_for_every_chunking(
    data: st.DataObject,
    stream: bytes,
    program: list[TerminatorSpec],
    limit: int,
    stop_after: int,
) -> None:
    outcomes, tail = frame_all(stream, program, limit)
    for chunks in ([stream], data.draw(chunked(stream)), [bytes([b]) for b in stream]):
        assert run_frames(chunks, program, stop_after, limit) == (payloads(outcomes), tail)


@settings(max_examples=200)
@given(
    data=st.data(),
    stream=byte_streams,
    program=st.lists(st.sampled_from([0, 1, 2, b"\n", b"ab"]), min_size=1, max_size=5).filter(
        lambda p: any(t != 0 for t in p)
    ),
)
def test_zero_count_is_an_empty_frame_in_the_model(
    data: st.DataObject, stream: bytes, program: list[TerminatorSpec]
) -> None:
    """A model test of the zero count: each 0 in the program is one empty frame, at once."""
    expected = frame_all(stream, program)
    chunks = data.draw(chunked(stream))
    assert run_events(chunks, program, use_events=True)[:2] == expected
    assert run_frames(chunks, program, 2) == (payloads(expected[0]), expected[1])
    zeros = [o for o in expected[0] if o != TOO_LONG and o[1] == 0]  # type: ignore[index]
    assert all(o == (b"", 0) for o in zeros)


@settings(max_examples=200)
@given(data=st.data(), stream=byte_streams, terminator=bytes_terminators)
def test_frames_without_terminator_changes(
    data: st.DataObject, stream: bytes, terminator: bytes
) -> None:
    ch = Channel(terminator)
    got: list[bytes] = []
    for chunk in data.draw(chunked(stream)):
        ch.receive_data(chunk)
        got.extend(ch.frames())
    ch.receive_data(b"")
    got.extend(ch.frames())
    expected, tail = frame_all(stream, [terminator])
    assert got == [p for p, _ in expected]
    assert ch.trailing_data == tail


def run_complete_frames(
    chunks: Sequence[bytes],
    program: Sequence[TerminatorSpec],
    max_frames: int | None,
    limit: int | None,
) -> tuple[list[bytes | str], bytes]:
    """Drive complete_frames(max_frames) after every chunk, moving to the program's
    next terminator after each list; return the outcomes and the trailing data."""
    ch = Channel(program[0], max_frame_size=limit, max_record_size=limit)
    outcomes: list[bytes | str] = []
    k = 0
    for chunk in [*chunks, b""]:
        ch.receive_data(chunk)
        while True:
            try:
                frames = ch.complete_frames(max_frames)
            except FrameTooLong:
                outcomes.append(TOO_LONG)
                continue
            if not frames:
                break
            outcomes.extend(frames)
            if len(program) > 1:
                # A terminator change applies from the first byte after the list.
                k += len(frames)
                ch.set_terminator(program[k % len(program)])
    return outcomes, ch.trailing_data


# Programs whose every terminator is a delimiter: complete_frames() splits the
# buffer in one pass there, and must find what the frame-by-frame path finds.
delimiter_programs = st.lists(bytes_terminators, min_size=1, max_size=3)


short_streams = st.binary(max_size=12).map(
    lambda raw: bytes(ALPHABET[b % len(ALPHABET)] for b in raw)
)


@settings(max_examples=300)
@given(
    data=st.data(),
    pieces=st.lists(short_streams, max_size=12),
    terminator=bytes_terminators,
    max_frames=st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
    limit=st.one_of(st.none(), limits),
)
def test_complete_frames_match_the_model_for_any_chunking_and_limit(
    data: st.DataObject,
    pieces: list[bytes],
    terminator: bytes,
    max_frames: int | None,
    limit: int | None,
) -> None:
    # Pieces joined by the terminator: many frames per buffer, as one read brings.
    stream = terminator.join(pieces)
    outcomes, tail = frame_all(stream, [terminator], limit)
    for chunks in ([stream], data.draw(chunked(stream)), [bytes([b]) for b in stream]):
        got = run_complete_frames(chunks, [terminator], max_frames, limit)
        assert got == (payloads(outcomes), tail)


@settings(max_examples=300)
@given(
    data=st.data(),
    pieces=st.lists(short_streams, max_size=12),
    program=delimiter_programs,
    limit=limits,
)
def test_complete_frames_one_at_a_time_follow_terminator_changes(
    data: st.DataObject, pieces: list[bytes], program: list[TerminatorSpec], limit: int
) -> None:
    stream = b"".join(piece + program[i % len(program)] for i, piece in enumerate(pieces))
    # One frame per call, so the terminator changes after every frame, as the model's.
    outcomes, tail = frame_all(stream, program, limit)
    for chunks in ([stream], data.draw(chunked(stream))):
        assert run_complete_frames(chunks, program, 1, limit) == (payloads(outcomes), tail)
