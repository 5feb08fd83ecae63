"""Differential test: Channel against the stdlib asynchat.async_chat (Python <= 3.11).

Both get the same recv chunks and the same "terminator program" (the next terminator
is set when a terminator is found). The sequence of collected data and found
terminators, and the terminator seen at each found_terminator(), must be identical.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncframe import NEED_DATA, Channel, ConnectionClosed, Data, Terminator, TerminatorSpec

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    asynchat = pytest.importorskip("asynchat")

ALPHABET = b"ab\r\n"
streams = st.binary(max_size=200).map(lambda raw: bytes(ALPHABET[b % 4] for b in raw))
# Terminators both implementations accept (no tuples; no empty bytes).
stdlib_terminators: st.SearchStrategy[TerminatorSpec] = st.one_of(
    st.sampled_from([b"\n", b"\r\n", b"a", b"ab", b"aba", b"\r\n\r\n", b"bb"]),
    st.integers(min_value=0, max_value=9),
    st.none(),
)


class StdlibChat(asynchat.async_chat):  # type: ignore[misc]
    """The stdlib class fed from a list of chunks instead of a socket."""

    def __init__(self, chunks: list[bytes], program: list[TerminatorSpec]) -> None:
        super().__init__(sock=None, map={})
        self.chunks = list(chunks)
        self.program = program
        self.k = 0
        self.log: list[tuple[str, Any]] = []
        self.set_terminator(program[0])

    def recv(self, buffer_size: int) -> bytes:
        return self.chunks.pop(0)

    def collect_incoming_data(self, data: bytes) -> None:
        self.log.append(("data", data))

    def found_terminator(self) -> None:
        self.log.append(("found", self.get_terminator()))
        self.k += 1
        self.set_terminator(self.program[self.k % len(self.program)])


def run_stdlib(chunks: list[bytes], program: list[TerminatorSpec]) -> tuple[list[Any], bytes]:
    chat = StdlibChat(chunks, program)
    for _ in chunks:
        chat.handle_read()
    return chat.log, chat.ac_in_buffer


def as_channel_terminator(term: TerminatorSpec) -> TerminatorSpec:
    """asynchat's 0 means "no terminator"; the Channel says that with None."""
    return None if type(term) is int and term == 0 else term


def run_channel(chunks: list[bytes], program: list[TerminatorSpec]) -> tuple[list[Any], bytes]:
    program = [as_channel_terminator(term) for term in program]
    ch = Channel(program[0])
    log: list[tuple[str, Any]] = []
    k = 0
    for chunk in chunks:
        ch.receive_data(chunk)
        while (event := ch.next_event()) is not NEED_DATA:
            if type(event) is Data:
                log.append(("data", event.data))
            elif type(event) is Terminator:
                # A completed count reads None here and 0 in asynchat.
                found = ch.get_terminator()
                log.append(("found", 0 if found is None else found))
                k += 1
                ch.set_terminator(program[k % len(program)])
    held = ch.buffered_input
    ch.receive_data(b"")
    tail = b"".join(e.data for e in ch.events() if type(e) is Data)
    assert ch.next_event() == ConnectionClosed()
    assert len(tail) == held
    return log, tail


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    sizes = draw(st.lists(st.integers(min_value=1, max_value=20), max_size=len(data) + 1))
    chunks, pos = [], 0
    for size in sizes:
        if pos >= len(data):
            break
        chunks.append(data[pos : pos + size])
        pos += size
    if pos < len(data):
        chunks.append(data[pos:])
    return chunks


@settings(max_examples=500)
@given(
    data=st.data(),
    stream=streams,
    program=st.lists(stdlib_terminators, min_size=1, max_size=6),
)
def test_same_callbacks_as_stdlib_asynchat(
    data: st.DataObject, stream: bytes, program: list[TerminatorSpec]
) -> None:
    chunks = data.draw(chunkings(stream))
    assert run_channel(chunks, program) == run_stdlib(chunks, program)


def test_many_lines_in_one_read() -> None:
    chunks = [b"line\r\n" * 1000 + b"part", b"ial\r\n"]
    log, _ = run_channel(chunks, [b"\r\n"])
    assert log == run_stdlib(chunks, [b"\r\n"])[0]
    assert log.count(("found", b"\r\n")) == 1001
