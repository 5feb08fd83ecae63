"""The producer fifo: order, laziness, partial writes, close_when_done, faults."""

from __future__ import annotations

import array
import warnings
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncframe import Channel, Handler, SendAfterClose, fifo, find_prefix_at_end, simple_producer


class CountingProducer:
    """A classic producer that records how often more() was called."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.calls = 0

    def more(self) -> bytes:
        self.calls += 1
        return self.chunks.pop(0) if self.chunks else b""


items = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=40)),
    st.tuples(st.just("bytearray"), st.binary(max_size=40)),
    st.tuples(st.just("memoryview"), st.binary(max_size=40)),
    st.tuples(st.just("producer"), st.lists(st.binary(min_size=1, max_size=30), max_size=5)),
    st.tuples(st.just("iterator"), st.lists(st.binary(max_size=30), max_size=5)),
    st.tuples(st.just("simple"), st.binary(max_size=100)),
)


def queue(ch: Channel, item: tuple[str, object]) -> bytes:
    """Queue one generated item; return the bytes it must produce."""
    kind, value = item
    if kind == "bytes":
        assert isinstance(value, bytes)
        ch.push(value)
        return value
    if kind == "bytearray":
        assert isinstance(value, bytes)
        buf = bytearray(value)
        ch.push(buf)
        buf[:] = b"!" * len(buf)  # mutating after push must not change what is sent
        return value
    if kind == "memoryview":
        assert isinstance(value, bytes)
        ch.push(memoryview(value))
        return value
    if kind == "producer":
        assert isinstance(value, list)
        ch.push_with_producer(CountingProducer(value))
        return b"".join(value)
    if kind == "iterator":
        assert isinstance(value, list)
        ch.push_with_producer(iter(value))
        return b"".join(value)
    assert isinstance(value, bytes)
    ch.push_with_producer(simple_producer(value, buffer_size=7))
    return value


@settings(max_examples=300)
@given(
    batch=st.lists(items, max_size=12),
    # Accepting nothing (EAGAIN) is a fair step, but the socket must accept something eventually.
    sends=st.lists(st.integers(min_value=0, max_value=50), max_size=20).map(lambda s: [*s, 1]),
    mode=st.sampled_from(["peek", "take"]),
)
def test_output_is_everything_pushed_in_order_under_partial_writes(
    batch: list[tuple[str, object]], sends: list[int], mode: str
) -> None:
    ch = Channel()
    expected = b"".join(queue(ch, item) for item in batch)
    ch.close_when_done()
    wire = bytearray()
    # A socket that accepts a varying amount each time; bounded by the output size.
    for i in range(10 * len(expected) + 10):
        if ch.wants_close:
            break
        room = sends[i % len(sends)]
        if mode == "peek":
            view = ch.peek_output(room + 1)
            accepted = min(len(view), room)
            wire += view[:accepted]
            ch.consume_output(accepted)
        else:
            wire += ch.data_to_send(room)
    assert ch.wants_close
    assert bytes(wire) == expected
    assert ch.data_to_send() == b""


def test_producers_are_pulled_lazily() -> None:
    ch = Channel()
    p = CountingProducer([b"a" * 10, b"b" * 10, b"c" * 10])
    ch.push(b"head")
    ch.push_with_producer(p)
    assert p.calls == 0  # nothing is pulled before output is asked for
    assert ch.peek_output(4) == b"head"
    assert p.calls == 0  # the plain buffer was enough
    assert ch.data_to_send(6) == b"headaa"
    assert p.calls == 1
    assert ch.data_to_send(10) == b"a" * 8 + b"bb"
    assert p.calls == 2
    assert ch.data_to_send() == b"b" * 8 + b"c" * 10
    assert p.calls == 4  # the last call returned b"" and ended it


def test_a_large_producer_is_not_pulled_all_at_once() -> None:
    pulled = 0

    def big() -> Iterator[bytes]:
        nonlocal pulled
        for _ in range(10_000):
            pulled += 4096
            yield b"x" * 4096

    ch = Channel()
    ch.push_with_producer(big())
    assert len(ch.data_to_send(65536)) == 65536
    assert pulled == 65536


def test_close_when_done_waits_for_earlier_output() -> None:
    ch = Channel()
    ch.push(b"bye")
    ch.close_when_done()
    assert ch.closing
    assert not ch.wants_close
    assert ch.data_to_send(2) == b"by"
    assert not ch.wants_close
    assert ch.data_to_send() == b"e"
    assert ch.wants_close
    with pytest.raises(SendAfterClose, match="close_when_done"):
        ch.push(b"late")
    with pytest.raises(SendAfterClose, match="push_with_producer"):
        ch.push_with_producer(iter([b"late"]))
    ch.close_when_done()  # twice is harmless
    assert ch.wants_close


def test_has_output() -> None:
    ch = Channel()
    assert not ch.has_output()
    ch.push_with_producer(iter([]))
    assert ch.has_output()  # a producer may still turn out to be empty
    assert ch.data_to_send() == b""
    assert not ch.has_output()


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40).map(lambda b: ("push", b)),
            st.integers(0, 60).map(lambda n: ("write", n)),
        ),
        max_size=40,
    )
)
def test_buffered_output_counts_what_was_pushed_and_not_taken(
    ops: list[tuple[str, object]],
) -> None:
    ch = Channel()
    pushed = taken = 0
    for op, arg in ops:
        if op == "push":
            assert isinstance(arg, bytes)
            ch.push(arg)
            pushed += len(arg)
        else:
            assert isinstance(arg, int)
            view = ch.peek_output(arg)
            ch.consume_output(len(view))
            taken += len(view)
        assert ch.buffered_output == pushed - taken


def test_buffered_output_counts_a_producer_only_for_what_it_handed_out() -> None:
    ch = Channel()
    ch.push(b"a" * 10)
    ch.push_with_producer(iter([b"x" * 100] * 1000))
    ch.push(b"tail")
    assert ch.buffered_output == 14  # the producer has not been pulled
    assert len(ch.peek_output(50)) == 50  # pulls one 100-byte chunk
    assert ch.buffered_output == 114
    ch.consume_output(50)
    assert ch.buffered_output == 64
    ch.discard_buffers()
    assert ch.buffered_output == 0


def test_failing_producer_propagates_and_leaves_the_fifo_consistent() -> None:
    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        def more(self) -> bytes:
            self.calls += 1
            if self.calls == 2:
                raise OSError("disk went away")
            return b"chunk%d;" % self.calls if self.calls < 4 else b""

    ch = Channel()
    ch.push(b"a;")
    ch.push_with_producer(Flaky())
    ch.push(b"z;")
    assert ch.data_to_send(2) == b"a;"
    with pytest.raises(OSError, match="disk went away"):
        ch.data_to_send()
    # What was pulled before the fault is still there, in order; a retry goes on.
    assert ch.data_to_send() == b"chunk1;chunk3;z;"


def test_producer_returning_text_is_a_type_error() -> None:
    class Texty:
        def more(self) -> str:
            return "oops"

    ch = Channel()
    ch.push_with_producer(Texty())
    with pytest.raises(TypeError, match=r"more\(\) must be a bytes-like object, not str"):
        ch.data_to_send()


def test_iterator_with_empty_chunks_is_not_cut_short() -> None:
    ch = Channel()
    ch.push_with_producer(iter([b"a", b"", b"b"]))
    ch.push(b"c")
    assert ch.data_to_send() == b"abc"


def test_push_copies_mutable_buffers_only() -> None:
    ch = Channel()
    data = b"x" * 100_000
    ch.push(data)
    assert ch.data_to_send() is data  # bytes are queued as they are
    ch.push(array.array("H", [1, 2]))
    assert ch.data_to_send() == array.array("H", [1, 2]).tobytes()
    ch.push_with_producer(bytearray(b"prod"))
    assert ch.data_to_send() == b"prod"


def test_simple_producer() -> None:
    p = simple_producer(b"abcdefghij", buffer_size=4)
    assert [p.more(), p.more(), p.more(), p.more()] == [b"abcd", b"efgh", b"ij", b""]
    whole = b"xy"
    p = simple_producer(whole)
    assert p.more() is whole
    assert p.more() == b""
    with pytest.raises(ValueError, match="buffer_size must be > 0"):
        simple_producer(b"x", buffer_size=0)
    with pytest.raises(TypeError, match="buffer_size must be an int"):
        simple_producer(b"x", buffer_size=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be a bytes-like object, not str"):
        simple_producer("x")  # type: ignore[arg-type]


def test_fifo_classic_api() -> None:
    f: fifo[str] = fifo()
    assert f.is_empty()
    assert len(f) == 0
    assert f.pop() == (False, None)
    f.push("a")
    f.push("b")
    assert not f.is_empty()
    assert f.first() == "a"
    assert f.pop() == (True, "a")
    assert len(f) == 1
    assert fifo(["x", "y"]).pop() == (True, "x")
    with pytest.raises(IndexError):
        fifo().first()


@settings(max_examples=300)
@given(haystack=st.binary(max_size=12), needle=st.binary(min_size=1, max_size=6))
def test_find_prefix_at_end_matches_the_stdlib(haystack: bytes, needle: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asynchat = pytest.importorskip("asynchat")
    assert find_prefix_at_end(haystack, needle) == asynchat.find_prefix_at_end(haystack, needle)


def test_find_prefix_at_end_examples() -> None:
    assert find_prefix_at_end(b"qwerty\r", b"\r\n") == 1
    assert find_prefix_at_end(b"qwertydkjf", b"\r\n") == 0
    assert find_prefix_at_end(b"abc<EN", b"<END>") == 3


@settings(max_examples=200)
@given(
    steps=st.lists(
        st.one_of(items, st.tuples(st.just("send"), st.integers(min_value=0, max_value=60))),
        max_size=16,
    ),
    through_handler=st.booleans(),
)
def test_pushes_between_sends_keep_their_order(
    steps: list[tuple[str, object]], through_handler: bool
) -> None:
    # Output taken between pushes empties the fifo and refills it: bytes pushed
    # after a producer wait behind it, and go straight out again once it is done.
    handler = Handler()
    ch = handler.channel
    expected, wire = b"", b""
    for kind, value in steps:
        if kind == "send":
            assert isinstance(value, int)
            wire += ch.data_to_send(value)
        elif kind == "bytes" and through_handler:
            assert isinstance(value, bytes)
            handler.push(value)
            expected += value
        else:
            expected += queue(ch, (kind, value))
    wire += ch.data_to_send()
    assert wire == expected
    assert ch.buffered_output == 0
