"""Terminators as the public API takes them, and the classic ``find_prefix_at_end``.

The inbound state machine itself is split by what it holds: ``_receivebuffer``
(the bytes), ``_readers`` (one reader per terminator kind), ``_terminator`` (the
current reader and the frame limit under it), ``_batch`` (the fast path) and
``_inbound`` (the one parsing path every reading API stands on).
"""

from __future__ import annotations

from ._events import TerminatorSpec
from ._readers import held_back
from ._records import RecordKind

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "find_prefix_at_end", "normalize_terminator"]

#: The default ``max_frame_size`` of a channel: 64 KiB, as asyncio's stream limit.
DEFAULT_MAX_FRAME_SIZE = 65536


def find_prefix_at_end(haystack: bytes | bytearray, needle: bytes) -> int:
    """Return the length of the longest proper prefix of *needle* that ends *haystack*.

    This is the classic ``asynchat`` helper: ``find_prefix_at_end(b"qwerty\\r", b"\\r\\n")``
    is 1, because the last byte could be the start of the terminator.
    """
    if not isinstance(haystack, (bytes, bytearray)):
        raise TypeError(f"haystack must be bytes or bytearray, not {type(haystack).__name__}")
    if not isinstance(needle, (bytes, bytearray)):
        raise TypeError(f"needle must be bytes or bytearray, not {type(needle).__name__}")
    if not needle:
        return 0
    return held_back(haystack, 0, len(haystack), bytes(needle))


def normalize_terminator(terminator: object) -> TerminatorSpec:
    """Check a terminator as :meth:`Channel.set_terminator` takes it and return its stored form.

    Raises :exc:`TypeError` or :exc:`ValueError` naming ``terminator``.
    """
    if type(terminator) is bytes and terminator:  # the common cases first
        return terminator
    if type(terminator) is int and terminator >= 0:
        return terminator
    if terminator is None or isinstance(terminator, RecordKind):
        return terminator
    if isinstance(terminator, bool):
        raise TypeError("terminator must be bytes, an int, None or a tuple of bytes, not bool")
    if isinstance(terminator, int):
        if terminator < 0:
            raise ValueError(f"terminator must be a byte count >= 0, not {terminator}")
        return terminator
    if isinstance(terminator, (bytes, bytearray, memoryview)):
        value = bytes(terminator)
        if not value:
            raise ValueError("terminator must not be empty; use None to receive every byte as data")
        return value
    if isinstance(terminator, tuple):
        if not terminator:
            raise ValueError("terminator must not be an empty tuple")
        items = []
        for i, item in enumerate(terminator):
            if not isinstance(item, (bytes, bytearray, memoryview)):
                raise TypeError(f"terminator[{i}] must be bytes, not {type(item).__name__}")
            value = bytes(item)
            if not value:
                raise ValueError(f"terminator[{i}] must not be empty")
            items.append(value)
        return tuple(items)
    if isinstance(terminator, str):
        raise TypeError(
            "terminator must be bytes, not str: encode it first, e.g. b'\\r\\n' "
            "or terminator.encode('ascii')"
        )
    raise TypeError(
        "terminator must be bytes, an int, None, a tuple of bytes or a record kind, "
        f"not {type(terminator).__name__}"
    )
