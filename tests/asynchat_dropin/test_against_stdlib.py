"""Differential tests: the drop-in async_chat against the stdlib one (Python <= 3.11).

Both classes are driven through the same scripted socket: the same recv chunks,
the same partial sends. A scripted socket is the one place a fake is right here: it
is how both implementations get byte-for-byte the same input.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncframe.adapters import asynchat as ours

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    stdlib = pytest.importorskip("asynchat")

_fds = itertools.count(10_000)


class ScriptedSocket:
    """Returns the given chunks from recv(); send() accepts the given amounts in turn."""

    def __init__(self, chunks: list[bytes], accept: list[int]) -> None:
        self.chunks = list(chunks)
        self.accept = itertools.cycle(accept or [1 << 30])
        self.wire = bytearray()
        self.closed = False
        self.fd = next(_fds)

    def fileno(self) -> int:
        return self.fd

    def recv(self, size: int) -> bytes:
        chunk = self.chunks.pop(0)
        assert len(chunk) <= size
        return chunk

    def send(self, data: bytes) -> int:
        n = min(len(data), next(self.accept))
        self.wire += data[:n]
        return n

    def close(self) -> None:
        self.closed = True

    def setblocking(self, flag: bool) -> None:
        pass

    def getpeername(self) -> tuple[str, int]:
        return ("127.0.0.1", 1)


def make(module: Any, chunks: list[bytes], accept: list[int], program: list[Any]) -> Any:
    class Chat(module.async_chat):  # type: ignore[misc,name-defined]
        ac_in_buffer_size = 64
        ac_out_buffer_size = 16

        def __init__(self) -> None:
            super().__init__(sock=None, map={})
            self.sock_ = ScriptedSocket(chunks, accept)
            self.set_socket(self.sock_)
            self.connected = True
            self.log: list[tuple[str, Any]] = []
            self.k = 0
            self.set_terminator(program[0])

        def collect_incoming_data(self, data: bytes) -> None:
            self.log.append(("data", data))

        def found_terminator(self) -> None:
            self.log.append(("found", self.get_terminator()))
            self.k += 1
            self.set_terminator(program[self.k % len(program)])

    return Chat()


ALPHABET = b"ab\r\n"
streams = st.binary(max_size=200).map(lambda raw: bytes(ALPHABET[b % 4] for b in raw))
terminators = st.one_of(
    st.sampled_from([b"\n", b"\r\n", b"a", b"ab", b"aba", b"bb", b""]),
    st.integers(min_value=0, max_value=9),
    st.none(),
)


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, pos = [], 0
    for size in itertools.cycle(sizes):
        if pos >= len(data):
            break
        chunks.append(data[pos : pos + size])
        pos += size
    return chunks


@settings(max_examples=300)
@given(
    stream=streams,
    sizes=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=8),
    program=st.lists(terminators, min_size=1, max_size=6),
)
def test_same_callbacks_and_terminators(
    stream: bytes, sizes: list[int], program: list[Any]
) -> None:
    chunks = split(stream, sizes)
    theirs = make(stdlib, chunks, [], program)
    mine = make(ours, chunks, [], program)
    for _ in chunks:
        theirs.handle_read()
        mine.handle_read()
    assert mine.log == theirs.log
    assert mine.get_terminator() == theirs.get_terminator()
    assert mine.ac_in_buffer == theirs.ac_in_buffer
    theirs.del_channel()
    mine.del_channel()


class Producer:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    def more(self) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


outputs = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.binary(min_size=1, max_size=40)),
        st.tuples(st.just("producer"), st.lists(st.binary(min_size=1, max_size=30), max_size=4)),
        st.tuples(st.just("simple"), st.binary(max_size=60)),
        st.tuples(st.just("bytes-producer"), st.binary(min_size=1, max_size=30)),
    ),
    max_size=8,
)


@settings(max_examples=300)
@given(
    items=outputs,
    accept=st.lists(st.integers(min_value=0, max_value=20), max_size=6).map(lambda a: [*a, 3]),
    close=st.booleans(),
)
def test_same_bytes_on_the_wire_and_same_close(
    items: list[tuple[str, Any]], accept: list[int], close: bool
) -> None:
    results = []
    for module in (stdlib, ours):
        chat = make(module, [], accept, [b"\n"])
        for kind, value in items:
            if kind == "push":
                chat.push(value)
            elif kind == "producer":
                chat.push_with_producer(Producer(value))
            elif kind == "simple":
                chat.push_with_producer(module.simple_producer(value, buffer_size=5))
            else:
                chat.push_with_producer(value)
        if close:
            chat.close_when_done()
        for _ in range(2000):
            if not chat.writable() or chat.sock_.closed:
                break
            chat.handle_write()
        results.append((bytes(chat.sock_.wire), chat.sock_.closed, bool(chat.producer_fifo)))
        chat.del_channel()
    assert results[1] == results[0]


def test_push_after_close_when_done_is_ignored_as_in_stdlib() -> None:
    for module in (stdlib, ours):
        chat = make(module, [], [100], [b"\n"])
        chat.push(b"last")
        chat.close_when_done()
        chat.push(b"never sent")
        for _ in range(10):
            if chat.sock_.closed:
                break
            chat.handle_write()
        assert bytes(chat.sock_.wire) == b"last"
        assert chat.sock_.closed
        chat.del_channel()
