"""Coverage-guided fuzzing of Channel with atheris.

Each input is decoded into a terminator program, a chunking of a byte stream and a
list of outbound operations. The harness checks, for every input:

- only documented exceptions escape (FrameTooLong from frames(); nothing else);
- chunking invariance: the terminators found, and the bytes between them, equal
  those of the same stream fed in one piece;
- nothing lost: payloads, matched terminators and the tail rebuild the input;
- outbound: the bytes taken equal everything pushed, in order, under partial writes.

Run (not part of CI): ``python fuzz/fuzz_channel.py -max_total_time=600 fuzz-corpus/``
after ``pip install "asyncframe[fuzz]"``.
"""

from __future__ import annotations

import itertools
import sys

import atheris

with atheris.instrument_imports():
    from asyncframe import NEED_DATA, Channel, Data, Terminator

TERMINATORS = [b"\n", b"\r\n", b"\r\n.\r\n", b"aa", b"aba", b"x", (b"\r", b"\r\n"), (b"a", b"ab")]


def pick_terminator(fdp: atheris.FuzzedDataProvider) -> object:
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        return TERMINATORS[fdp.ConsumeIntInRange(0, len(TERMINATORS) - 1)]
    if kind == 1:
        return fdp.ConsumeIntInRange(0, 20)
    if kind == 2:
        return None
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 4))
    return raw or b"\n"


def frame_stream(chunks: list[bytes], program: list[object], use_frames: bool) -> tuple:
    ch = Channel(program[0], max_frame_size=1 << 20)  # type: ignore[arg-type]
    frames: list[tuple[bytes, object]] = []
    payload: list[bytes] = []
    k = 0
    for chunk in [*chunks, b""]:
        ch.receive_data(chunk)
        if use_frames:
            progress = True
            while progress:
                progress = False
                for frame in ch.frames():
                    frames.append((frame, None))
                    k += 1
                    ch.set_terminator(program[k % len(program)])  # type: ignore[arg-type]
                    progress = True
            continue
        while (event := ch.next_event()) is not NEED_DATA:
            if type(event) is Data:
                payload.append(event.data)
            elif type(event) is Terminator:
                frames.append((b"".join(payload), event.terminator))
                payload.clear()
                k += 1
                ch.set_terminator(program[k % len(program)])  # type: ignore[arg-type]
            else:
                break
    tail = ch.trailing_data if use_frames else b"".join(payload)
    return frames, tail


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    program = [pick_terminator(fdp) for _ in range(fdp.ConsumeIntInRange(1, 4))]
    stream = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))
    cuts = sorted({fdp.ConsumeIntInRange(0, max(0, len(stream))) for _ in range(8)})
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    for use_frames in (False, True):
        one = frame_stream([stream] if stream else [], program, use_frames)
        many = frame_stream(chunks, program, use_frames)
        if one != many:
            raise AssertionError(f"chunking changed the result: {program!r} {chunks!r}")
        if not use_frames:
            frames, tail = one
            rebuilt = b"".join(p + (t if isinstance(t, bytes) else b"") for p, t in frames)
            if rebuilt + tail != stream:
                raise AssertionError(f"bytes lost or duplicated: {program!r} {stream!r}")
    # Outbound: pushes and producers under partial writes.
    ch = Channel()
    expected = bytearray()
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        piece = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 50))
        if fdp.ConsumeBool():
            ch.push(piece)
        else:
            ch.push_with_producer(iter([piece[:3], piece[3:]]))
        expected += piece
    wire = bytearray()
    for _ in range(len(expected) + 2):
        n = fdp.ConsumeIntInRange(0, 16) if fdp.remaining_bytes() else 64
        view = ch.peek_output(n)
        wire += view
        ch.consume_output(len(view))
    wire += ch.data_to_send()
    if wire != expected:
        raise AssertionError("outbound bytes differ from what was pushed")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
