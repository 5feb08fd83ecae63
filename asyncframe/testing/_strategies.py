"""hypothesis strategies for chunkings and terminators (imported only when used)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from asyncframe import TerminatorSpec

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = ["chunkings", "terminators"]

_HYPOTHESIS_HINT = 'asyncframe.testing strategies need hypothesis: pip install "asyncframe[test]"'


def _strategies() -> Any:
    try:
        from hypothesis import strategies
    except ImportError as exc:
        raise ImportError(_HYPOTHESIS_HINT) from exc
    return strategies


def chunkings(data: bytes, *, max_chunks: int | None = None) -> SearchStrategy[list[bytes]]:
    """A strategy for the ways to split *data* into non-empty chunks, in order.

    Every split is reachable; failures shrink towards fewer, larger chunks.
    Joining the chunks always gives *data* back.
    """
    st = _strategies()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) <= 1:
        return st.just([data] if data else [])  # type: ignore[no-any-return]
    positions = st.sets(
        st.integers(min_value=1, max_value=len(data) - 1),
        max_size=(max_chunks - 1) if max_chunks else len(data) - 1,
    )

    def split(cuts: set[int]) -> list[bytes]:
        bounds = [0, *sorted(cuts), len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds)]

    return positions.map(split)  # type: ignore[no-any-return]


def terminators(
    *,
    alphabet: bytes = b"\r\n.ab",
    max_size: int = 4,
    counts: bool = True,
    none: bool = True,
    tuples: bool = True,
) -> SearchStrategy[TerminatorSpec]:
    """A strategy for terminators as :meth:`~asyncframe.Channel.set_terminator` takes them.

    Non-empty bytes over *alphabet* (so that they overlap each other and
    themselves, where bugs hide), and, as allowed, byte counts, ``None``, and
    tuples of bytes.
    """
    st = _strategies()
    if not alphabet:
        raise ValueError("alphabet must not be empty")
    byte_terms = st.binary(min_size=1, max_size=max_size).map(
        lambda raw: bytes(alphabet[b % len(alphabet)] for b in raw)
    )
    options = [byte_terms, st.sampled_from([b"\r\n", b"\n", b"\r\n.\r\n"])]
    if counts:
        options.append(st.integers(min_value=0, max_value=64))
    if none:
        options.append(st.none())
    if tuples:
        options.append(st.lists(byte_terms, min_size=1, max_size=3).map(tuple))
    return st.one_of(*options)  # type: ignore[no-any-return]
