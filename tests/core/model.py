"""A naive reference model of the framing semantics, for the property tests."""

from __future__ import annotations

from collections.abc import Sequence

from asyncframe import TerminatorSpec

Frame = tuple[bytes, "bytes | int"]


def match_at(data: bytes, pos: int, term: bytes | tuple[bytes, ...]) -> tuple[int, bytes] | None:
    """The earliest match at or after *pos* (longest at the same position), or None."""
    terms = term if isinstance(term, tuple) else (term,)
    best: tuple[int, bytes] | None = None
    for t in terms:
        i = data.find(t, pos)
        if i >= 0 and (best is None or i < best[0] or (i == best[0] and len(t) > len(best[1]))):
            best = (i, t)
    return best


def frame_all(data: bytes, program: Sequence[TerminatorSpec]) -> tuple[list[Frame], bytes]:
    """Frame the whole of *data* (EOF included), switching to ``program[k % len]`` after frame k.

    Returns the frames as ``(payload, terminator reported)`` and the unterminated tail.
    """
    frames: list[Frame] = []
    pos = 0
    k = 0
    while True:
        term = program[k % len(program)]
        if term is None or term == 0:
            break
        if isinstance(term, int):
            if len(data) - pos < term:
                break
            frames.append((data[pos : pos + term], term))
            pos += term
        else:
            m = match_at(data, pos, term)
            if m is None:
                break
            frames.append((data[pos : m[0]], m[1]))
            pos = m[0] + len(m[1])
        k += 1
    return frames, data[pos:]
