"""Bad arguments get a TypeError/ValueError naming the argument, and change nothing."""

from __future__ import annotations

import array
import sys
from collections.abc import Callable
from typing import Any

import pytest

from asyncframe import Channel, Data, Driver, Handler, Terminator, start_handler


def loaded_channel() -> Channel:
    """A channel in the middle of things: unread input, a pending frame, queued output."""
    ch = Channel(b"\r\n", max_frame_size=100)
    ch.receive_data(b"one\r\ntwo\r\nthr")
    assert ch.next_event() == Data(b"one")
    ch.push(b"queued ")
    ch.push_with_producer(iter([b"produced"]))
    return ch


def observe(ch: Channel) -> tuple[object, ...]:
    """Everything observable, including what the channel does next."""
    state = (ch.terminator, ch.buffered_input, ch.max_frame_size, ch.eof, ch.closing)
    ch.receive_data(b"ee\r\n")
    return (*state, list(ch.events()), ch.data_to_send())


BAD_CALLS: list[tuple[str, Callable[[Channel], Any], type[Exception], str]] = [
    ("receive str", lambda ch: ch.receive_data("text"), TypeError, "data must be a bytes-like"),
    ("receive int", lambda ch: ch.receive_data(5), TypeError, "data must be a bytes-like"),
    ("receive None", lambda ch: ch.receive_data(None), TypeError, "data must be a bytes-like"),
    ("receive list", lambda ch: ch.receive_data([1, 2]), TypeError, "data must be a bytes-like"),
    ("terminator str", lambda ch: ch.set_terminator("\r\n"), TypeError, "terminator must be bytes"),
    ("terminator empty", lambda ch: ch.set_terminator(b""), ValueError, "terminator must not be"),
    ("terminator negative", lambda ch: ch.set_terminator(-1), ValueError, "terminator must be a"),
    ("terminator bool", lambda ch: ch.set_terminator(True), TypeError, "terminator must be"),
    ("terminator float", lambda ch: ch.set_terminator(1.5), TypeError, "terminator must be"),
    ("terminator list", lambda ch: ch.set_terminator([b"\n"]), TypeError, "terminator must be"),
    ("terminator ()", lambda ch: ch.set_terminator(()), ValueError, "terminator must not be"),
    ("terminator item", lambda ch: ch.set_terminator((b"\n", "x")), TypeError, r"terminator\[1\]"),
    ("terminator empty item", lambda ch: ch.set_terminator((b"",)), ValueError, r"terminator\[0\]"),
    ("property terminator", lambda ch: setattr(ch, "terminator", "x"), TypeError, "terminator"),
    ("max_frame_size str", lambda ch: setattr(ch, "max_frame_size", "1"), TypeError, "max_frame"),
    ("max_frame_size neg", lambda ch: setattr(ch, "max_frame_size", -1), ValueError, "max_frame"),
    (
        "push str",
        lambda ch: ch.push("text"),
        TypeError,
        "data must be a bytes-like object, not str",
    ),
    ("push int", lambda ch: ch.push(3), TypeError, "data must be a bytes-like object, not int"),
    ("push None", lambda ch: ch.push(None), TypeError, "data must be a bytes-like object"),
    ("producer str", lambda ch: ch.push_with_producer("x"), TypeError, "producer must have"),
    ("producer int", lambda ch: ch.push_with_producer(5), TypeError, "producer must have"),
    ("producer object", lambda ch: ch.push_with_producer(object()), TypeError, "producer must"),
    ("data_to_send neg", lambda ch: ch.data_to_send(-1), ValueError, "max_bytes must be >= 0"),
    ("data_to_send str", lambda ch: ch.data_to_send("1"), TypeError, "max_bytes must be an int"),
    ("peek None", lambda ch: ch.peek_output(None), TypeError, "max_bytes must be an int"),
    ("peek neg", lambda ch: ch.peek_output(-5), ValueError, "max_bytes must be >= 0"),
    ("consume neg", lambda ch: ch.consume_output(-1), ValueError, "n must be >= 0"),
    ("consume float", lambda ch: ch.consume_output(1.0), TypeError, "n must be an int"),
    ("consume too much", lambda ch: ch.consume_output(10**6), ValueError, r"consume_output\(n="),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [pytest.param(c, e, m, id=name) for name, c, e, m in BAD_CALLS],
)
def test_bad_call_raises_and_changes_nothing(
    call: Callable[[Channel], Any], error: type[Exception], message: str
) -> None:
    untouched = loaded_channel()
    ch = loaded_channel()
    with pytest.raises(error, match=message):
        call(ch)
    assert observe(ch) == observe(untouched)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"terminator": "\n"}, TypeError, "terminator must be bytes"),
        ({"max_frame_size": -1}, ValueError, "max_frame_size must be >= 0"),
        ({"max_frame_size": "big"}, TypeError, "max_frame_size must be an int or None"),
    ],
)
def test_bad_constructor_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Channel(**kwargs)


def test_bytes_like_terminators_are_accepted_and_stored_as_bytes() -> None:
    ch = Channel(bytearray(b"\n"))
    assert ch.terminator == b"\n"
    ch.set_terminator((memoryview(b"\r\n"), bytearray(b"\n")))
    assert ch.terminator == (b"\r\n", b"\n")
    ch.receive_data(b"a\r\n")
    assert list(ch.events()) == [Data(b"a"), Terminator(b"\r\n")]


class StrProducer:
    """A producer that forgot to encode: more() returns str."""

    def more(self) -> str:
        return "text"


def test_a_producer_that_returns_str_fails_alone_and_the_queue_goes_on() -> None:
    ch = Channel()
    ch.push(b"before ")
    ch.push_with_producer(StrProducer())
    ch.push(b"after")
    with pytest.raises(TypeError, match=r"more\(\) must be a bytes-like object, not str"):
        ch.data_to_send()
    # The failing producer is gone; what was queued around it is still sent.
    assert ch.data_to_send() == b"before after"
    ch.push(b"more")
    assert ch.data_to_send() == b"more"


def test_consume_output_without_peek_output_raises_and_changes_nothing() -> None:
    ch = Channel()
    ch.push(b"abc")
    with pytest.raises(ValueError, match=r"consume_output\(n=1\).*peek_output\(\)"):
        ch.consume_output(1)
    assert ch.peek_output(2) == b"ab"
    with pytest.raises(ValueError, match=r"consume_output\(n=3\)"):
        ch.consume_output(3)  # more than the peek returned
    ch.consume_output(1)
    ch.consume_output(1)
    with pytest.raises(ValueError, match=r"consume_output\(n=1\)"):
        ch.consume_output(1)  # the peek was used up
    assert ch.data_to_send() == b"c"


def test_a_strided_memoryview_is_received_like_its_bytes() -> None:
    ch = Channel(b"\n")
    ch.receive_data(memoryview(b"aXbX\nXc")[::2])  # b"ab\nc"
    ch.receive_data(memoryview(b"c\n")[:])
    assert list(ch.frames()) == [b"ab", b"cc"]


def test_a_wide_item_buffer_counts_its_bytes() -> None:
    items = array.array("H", [0x0A61, 0x0A62])  # b"a\nb\n" in little-endian
    if sys.byteorder != "little":
        items.byteswap()
    ch = Channel(b"\n")
    ch.receive_data(memoryview(items))
    assert list(ch.frames()) == [b"a", b"b"]


def test_handler_takes_its_terminator_by_position_like_channel() -> None:
    assert Handler(b"\n").get_terminator() == Channel(b"\n").terminator == b"\n"
    assert Handler(terminator=b"\n").get_terminator() == b"\n"
    with pytest.raises(TypeError, match="terminator must be bytes"):
        Handler("\n")  # type: ignore[arg-type]


class ForgotSuper(Handler):
    def __init__(self) -> None:  # no super().__init__(): no channel
        self.count = 0


def test_a_handler_without_super_init_is_named_by_the_driver() -> None:
    with pytest.raises(
        TypeError, match=r"ForgotSuper.__init__ did not call super\(\).__init__\(\)"
    ):
        Driver(ForgotSuper())
    with pytest.raises(TypeError, match="handler must be a Handler, not NoneType"):
        Driver(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("factory", "cause"),
    [
        (lambda: None, "handler must be a Handler, not NoneType"),
        (ForgotSuper, "did not call super().__init__()"),
    ],
)
def test_start_handler_refuses_what_cannot_run_and_logs_why(
    factory: Callable[[], object], cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert start_handler(factory) is None
    (record,) = caplog.records
    assert "handler_factory returned an unusable handler" in record.getMessage()
    assert cause in record.getMessage()
