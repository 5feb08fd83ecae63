"""A naive reference model of the framing semantics, for the property tests."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from asyncframe import TerminatorSpec

Frame = tuple[bytes, "bytes | int"]
#: The outcome of a frame over the limit (FrameTooLong raised, the frame skipped).
TOO_LONG = "FrameTooLong"
Outcome = "Frame | str"


def match_at(data: bytes, pos: int, term: bytes | tuple[bytes, ...]) -> tuple[int, bytes] | None:
    """The earliest match at or after *pos* (longest at the same position), or None."""
    terms = term if isinstance(term, tuple) else (term,)
    best: tuple[int, bytes] | None = None
    for t in terms:
        i = data.find(t, pos)
        if i >= 0 and (best is None or i < best[0] or (i == best[0] and len(t) > len(best[1]))):
            best = (i, t)
    return best


def frame_all(
    data: bytes, program: Sequence[TerminatorSpec], limit: int | None = None
) -> tuple[list[Frame | str], bytes]:
    """Frame the whole of *data* (EOF included), switching to ``program[k % len]`` after frame k.

    Returns the outcomes in order, each a frame ``(payload, terminator reported)`` or
    :data:`TOO_LONG` for a payload over *limit* (the terminator does not change then),
    and the unterminated tail (empty if it was itself over the limit). A completed
    count gives way to None, as the channel does, until the next frame sets a terminator.
    """
    out: list[Frame | str] = []
    pos = 0
    k = 0
    big = sys.maxsize if limit is None else limit
    term = program[0]
    while term is not None:
        if isinstance(term, int):
            if term > big:
                out.append(TOO_LONG)
                if len(data) - pos < term:
                    return out, b""
                pos += term
                term = None  # the skipped count completed
                continue
            if len(data) - pos < term:
                break
            out.append((data[pos : pos + term], term))
            pos += term
        else:
            m = match_at(data, pos, term)
            if m is None:
                break
            payload = data[pos : m[0]]
            pos = m[0] + len(m[1])
            if len(payload) > big:
                out.append(TOO_LONG)
                continue
            out.append((payload, m[1]))
        k += 1
        term = program[k % len(program)]
    tail = data[pos:]
    if term is not None and len(tail) > big:
        out.append(TOO_LONG)
        tail = b""
    return out, tail
