"""The asynchat drop-in's handle_read against the stdlib one (target: 2x).

Both classes read the same 64 KiB chunks of 10-byte lines from a recv() stub and
collect each line with the classic _collect_incoming_data/_get_data pair.

Run: ``python -m benchmarks --only asynchat`` from a checkout.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from asyncframe.adapters import asynchat as dropin

from .common import OnResult, Result, compare
from .inbound import lines_chunks

__all__ = ["run"]


def _runner(module: Any, chunks: list[bytes]) -> Callable[[], int]:
    class Chat(module.async_chat):  # type: ignore[misc]
        ac_in_buffer_size = 65536

        def __init__(self) -> None:
            super().__init__(sock=None, map={})
            self.set_terminator(b"\r\n")
            self.frames = 0
            self.feed: list[bytes] = []

        def recv(self, buffer_size: int) -> bytes:
            return self.feed.pop()

        def collect_incoming_data(self, data: bytes) -> None:
            self._collect_incoming_data(data)

        def found_terminator(self) -> None:
            self._get_data()
            self.frames += 1

    def run() -> int:
        chat = Chat()
        chat.feed = chunks[::-1]
        for _ in range(len(chunks)):
            chat.handle_read()
        return chat.frames

    return run


def run(
    quick: bool = False, repeat: int | None = None, on_result: OnResult | None = None
) -> list[Result]:
    """Time the drop-in's handle_read against the stdlib's; empty if stdlib is absent."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import asynchat as stdlib
    except ImportError:
        return []
    total = (1 << 19) if quick else (1 << 21)
    chunks = lines_chunks(total)
    ours, theirs = _runner(dropin, chunks), _runner(stdlib, chunks)
    expected = total // 10
    for label, func in (("drop-in", ours), ("stdlib", theirs)):
        if func() != expected:
            raise AssertionError(f"{label} async_chat framed the wrong number of lines")
    rounds = repeat if repeat is not None else (3 if quick else 5)
    result = compare(
        "async_chat drop-in handle_read, 10-byte lines, 64 KiB reads",
        ours,
        "stdlib asynchat handle_read",
        theirs,
        repeat=rounds,
        target=2.0,
    )
    if on_result is not None:
        on_result(result)
    return [result]
