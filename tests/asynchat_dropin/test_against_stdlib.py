"""Differential tests: the drop-in async_chat against the classic one.

The classic class is the stdlib ``asynchat`` up to Python 3.11 and the ``pyasynchat``
backport from 3.12. Both classes are driven through the same scripted socket: the
same recv chunks, the same partial sends. A scripted socket is the one place a fake
is right here: it is how both implementations get byte for byte the same input, and
how every ``send()`` call is seen with its bytes.

Each callback records what a protocol can observe (its argument, ``get_terminator()``,
``ac_in_buffer``, ``incoming``) and then acts: it sets a terminator, pushes bytes or a
producer, asks to close when done, or closes. Every ``send()``, every ``more()`` and
every ``handle_close()`` goes into the same log, so the order of all of them is
compared, not only the bytes that end up on the wire.
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
    classic = pytest.importorskip("asynchat", reason="needs the stdlib asynchat or pyasynchat")

if classic is ours:  # pragma: no cover - a test run that replaced the module
    pytest.skip("asynchat is the drop-in itself here", allow_module_level=True)

_fds = itertools.count(10_000)


class ScriptedSocket:
    """recv() returns the given chunks (then b"": EOF); send() takes the given amounts."""

    def __init__(self, chunks: list[bytes], accept: list[int], log: list[Any]) -> None:
        self.chunks = list(chunks)
        self.accept = itertools.cycle(accept or [1 << 30])
        self.log = log
        self.wire = bytearray()
        self.closed = False
        self.fd = next(_fds)

    def fileno(self) -> int:
        return self.fd

    def recv(self, size: int) -> bytes:
        chunk = self.chunks.pop(0) if self.chunks else b""
        assert len(chunk) <= size
        return chunk

    def send(self, data: Any) -> int:
        data = bytes(data)
        n = min(len(data), next(self.accept))
        self.log.append(("send", data, n))
        self.wire += data[:n]
        return n

    def close(self) -> None:
        self.closed = True

    def setblocking(self, flag: bool) -> None:
        pass

    def getpeername(self) -> tuple[str, int]:
        return ("127.0.0.1", 1)


class Producer:
    """A classic producer that logs each more() call."""

    def __init__(self, chunks: list[bytes], log: list[Any]) -> None:
        self.chunks = list(chunks)
        self.log = log

    def more(self) -> bytes:
        data = self.chunks.pop(0) if self.chunks else b""
        self.log.append(("more", data))
        return data


def fifo_view(fifo: Any) -> list[Any]:
    """The producer fifo with producers replaced by what they still hold."""
    view: list[Any] = []
    for item in fifo:
        if item is None or isinstance(item, bytes):
            view.append(item)
        elif isinstance(item, Producer):
            view.append(("producer", item.chunks))
        else:
            view.append(("simple_producer", bytes(item.data)))
    return view


def make(
    module: Any, chunks: list[bytes], accept: list[int], first: Any, actions: list[Any]
) -> Any:
    """A chat whose k-th callback (collect or found) performs ``actions[k % len]``."""

    class Chat(module.async_chat):  # type: ignore[misc,name-defined]
        ac_in_buffer_size = 64
        ac_out_buffer_size = 16

        def __init__(self) -> None:
            super().__init__(sock=None, map={})
            self.log: list[Any] = []
            self.sock_ = ScriptedSocket(chunks, accept, self.log)
            self.set_socket(self.sock_)
            self.connected = True
            self.k = 0
            self.set_terminator(first)

        def observe(self, what: str, data: bytes | None) -> None:
            self.log.append(
                (what, data, self.get_terminator(), bytes(self.ac_in_buffer), list(self.incoming))
            )
            action = actions[self.k % len(actions)] if actions else ("nothing", None)
            self.k += 1
            kind, value = action
            if kind == "term":
                term = self.get_terminator()
                if what == "data" and isinstance(term, int) and term:
                    return  # a count changed mid-chunk: asynchat's arithmetic on it is garbage
            self.act(kind, value)

        def act(self, kind: str, value: Any) -> None:
            if kind == "term":
                self.set_terminator(value)
            elif kind == "push":
                self.push(value)
            elif kind == "producer":
                self.push_with_producer(Producer(value, self.log))
            elif kind == "simple":
                self.push_with_producer(module.simple_producer(value, buffer_size=5))
            elif kind == "bytes-producer":
                self.push_with_producer(value)
            elif kind == "close_when_done":
                self.close_when_done()
            elif kind == "close":
                self.close()
            elif kind == "get_data":
                self._get_data()

        def collect_incoming_data(self, data: bytes) -> None:
            self._collect_incoming_data(data)
            self.observe("data", data)

        def found_terminator(self) -> None:
            self.observe("found", None)

        def handle_close(self) -> None:
            self.log.append(("handle_close",))
            self.close()

    return Chat()


def run(module: Any, chunks: list[bytes], accept: list[int], first: Any, actions: list[Any],
        eof: bool) -> tuple[Any, ...]:  # fmt: skip
    """Drive a chat as asyncore.loop would; return everything it showed."""
    chat = make(module, chunks, accept, first, actions)
    reads = len(chunks) + (1 if eof else 0)
    for _ in range(reads):
        if chat.sock_.closed:
            break  # asyncore no longer polls a closed dispatcher
        chat.handle_read()
        chat.log.append(("read done", chat.get_terminator(), bytes(chat.ac_in_buffer)))
        for _ in range(3):
            if chat.sock_.closed or not chat.writable():
                break
            chat.handle_write()
    for _ in range(200):
        if chat.sock_.closed or not chat.writable():
            break
        chat.handle_write()
    chat.del_channel()
    return (
        chat.log,
        bytes(chat.sock_.wire),
        chat.sock_.closed,
        fifo_view(chat.producer_fifo),
        chat.get_terminator(),
        bytes(chat.ac_in_buffer),
        list(chat.incoming),
    )


ALPHABET = b"ab\r\n"
streams = st.binary(max_size=120).map(lambda raw: bytes(ALPHABET[b % 4] for b in raw))
terminators = st.one_of(
    st.sampled_from([b"\n", b"\r\n", b"a", b"ab", b"aba", b"bb", b""]),
    st.integers(min_value=0, max_value=9),
    st.none(),
)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("term"), terminators),
        st.tuples(st.just("nothing"), st.none()),
        st.tuples(st.just("get_data"), st.none()),
        st.tuples(st.just("push"), st.binary(max_size=40)),
        st.tuples(st.just("producer"), st.lists(st.binary(max_size=20), max_size=3)),
        st.tuples(st.just("simple"), st.binary(max_size=30)),
        st.tuples(st.just("close_when_done"), st.none()),
        st.tuples(st.just("close"), st.none()),
    ),
    max_size=8,
)
sends = st.lists(st.integers(min_value=0, max_value=20), max_size=5)


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, pos = [], 0
    for size in itertools.cycle(sizes):
        if pos >= len(data):
            break
        chunks.append(data[pos : pos + size])
        pos += size
    return chunks


@settings(max_examples=400)
@given(
    stream=streams,
    sizes=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=6),
    first=terminators,
    program=actions,
    accept=sends,
    eof=st.booleans(),
)
def test_same_observables_with_pushes_and_closes_inside_callbacks(
    stream: bytes,
    sizes: list[int],
    first: Any,
    program: list[Any],
    accept: list[int],
    eof: bool,
) -> None:
    chunks = split(stream, sizes)
    # Always let some bytes through eventually, so that the run ends.
    accept = [*accept, 7]
    theirs = run(classic, chunks, accept, first, program, eof)
    mine = run(ours, chunks, accept, first, program, eof)
    assert mine[0] == theirs[0]  # the log first: the clearest diff
    assert mine == theirs


@settings(max_examples=200)
@given(
    stream=streams,
    sizes=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=6),
    program=st.lists(terminators, min_size=1, max_size=6),
)
def test_same_callbacks_when_the_terminator_changes_in_found_terminator(
    stream: bytes, sizes: list[int], program: list[Any]
) -> None:
    chunks = split(stream, sizes)
    steps = [("term", term) for term in program[1:]] or [("nothing", None)]
    theirs = run(classic, chunks, [], program[0], steps, False)
    mine = run(ours, chunks, [], program[0], steps, False)
    assert mine == theirs


outputs = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.binary(max_size=40)),
        st.tuples(st.just("producer"), st.lists(st.binary(min_size=1, max_size=30), max_size=4)),
        st.tuples(st.just("simple"), st.binary(max_size=60)),
        st.tuples(st.just("bytes-producer"), st.binary(min_size=1, max_size=30)),
        st.tuples(st.just("close_when_done"), st.none()),
    ),
    max_size=8,
)


@settings(max_examples=300)
@given(items=outputs, accept=sends)
def test_same_sends_outside_callbacks(items: list[tuple[str, Any]], accept: list[int]) -> None:
    results = []
    for module in (classic, ours):
        chat = make(module, [], [*accept, 3], b"\n", [])
        for kind, value in items:
            chat.act(kind, value)
            chat.log.append(("queued", fifo_view(chat.producer_fifo)))
        for _ in range(2000):
            if not chat.writable() or chat.sock_.closed:
                break
            chat.handle_write()
        results.append((chat.log, bytes(chat.sock_.wire), chat.sock_.closed,
                        fifo_view(chat.producer_fifo)))  # fmt: skip
        chat.del_channel()
    assert results[1] == results[0]


def test_a_count_split_over_two_reads_reads_as_in_asynchat() -> None:
    # asynchat shows the count before it subtracts the chunk: 5 then 2, then 0.
    logs = []
    for module in (classic, ours):
        log = run(module, [b"abc", b"de"], [], 5, [], False)[0]
        logs.append([entry[:3] for entry in log if entry[0] in ("data", "found")])
    assert logs[1] == logs[0] == [("data", b"abc", 5), ("data", b"de", 2), ("found", None, 0)]


def test_a_reply_pushed_before_close_is_sent() -> None:
    for module in (classic, ours):
        log, wire, closed, *_ = run(
            module, [b"QUIT\r\n"], [], b"\r\n", [("push", b"221 bye\r\n"), ("close", None)], False
        )
        assert wire == b"221 bye\r\n"
        assert closed
        assert ("send", b"221 bye\r\n", 9) in log


def test_each_push_is_its_own_send() -> None:
    # CPython's test_EHLO reads the last send() of a multi-line reply.
    lines = [b"250-a\r\n", b"250-SIZE 1\r\n", b"250 HELP\r\n"]
    for module in (classic, ours):
        chat = make(module, [b"EHLO x\r\n"], [], b"\r\n", [])

        def found_terminator(chat: Any = chat) -> None:
            for line in lines:
                chat.push(line)

        chat.found_terminator = found_terminator
        chat.handle_read()
        assert [entry[1] for entry in chat.log if entry[0] == "send"] == lines
        chat.del_channel()
