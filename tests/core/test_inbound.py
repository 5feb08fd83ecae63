"""Inbound semantics 1-9 of the design, one example at a time."""

from __future__ import annotations

import pytest

from asyncframe import (
    NEED_DATA,
    Channel,
    ConnectionClosed,
    Data,
    DataAfterEOF,
    Event,
    FrameTooLong,
    Terminator,
)


def drain(ch: Channel) -> list[Event]:
    return list(ch.events())


def test_design_example() -> None:
    ch = Channel(terminator=b"\r\n")
    ch.receive_data(b"HELO a\r\nMAIL")
    assert ch.next_event() == Data(b"HELO a")
    assert ch.next_event() == Terminator(b"\r\n")
    assert ch.next_event() == Data(b"MAIL")
    assert ch.next_event() is NEED_DATA
    assert ch.next_event() is NEED_DATA


def test_partial_terminator_is_held_back() -> None:
    ch = Channel(b"\r\n")
    ch.receive_data(b"abc\r")
    assert drain(ch) == [Data(b"abc")]
    assert ch.buffered_input == 1
    ch.receive_data(b"\n")
    assert drain(ch) == [Terminator(b"\r\n")]


def test_only_a_real_prefix_is_held_back() -> None:
    ch = Channel(b"\r\n")
    ch.receive_data(b"abc\n")  # "\n" cannot start "\r\n"
    assert drain(ch) == [Data(b"abc\n")]
    ch = Channel(b"<END>")
    ch.receive_data(b"xx<EN")
    assert drain(ch) == [Data(b"xx")]
    ch.receive_data(b"X")  # the held-back bytes were payload after all
    assert drain(ch) == [Data(b"<ENX")]


def test_empty_payload_gives_only_the_terminator() -> None:
    ch = Channel(b"\n")
    ch.receive_data(b"\n\na\n")
    assert drain(ch) == [Terminator(b"\n"), Terminator(b"\n"), Data(b"a"), Terminator(b"\n")]


def test_count_terminator() -> None:
    ch = Channel(5)
    ch.receive_data(b"abc")
    assert drain(ch) == [Data(b"abc")]
    assert ch.terminator == 2  # still expected, as asynchat shows it
    ch.receive_data(b"defgh")
    assert drain(ch) == [Data(b"de"), Terminator(5), Data(b"fgh")]
    assert ch.terminator is None  # a completed count gives way to "no terminator"
    assert ch.get_terminator() is None


def test_count_terminator_in_one_piece() -> None:
    ch = Channel(3)
    ch.receive_data(b"abc")
    assert drain(ch) == [Data(b"abc"), Terminator(3)]


def test_none_terminator_reports_everything_as_data() -> None:
    ch = Channel(None)
    ch.receive_data(b"a\r\nb")
    assert drain(ch) == [Data(b"a\r\nb")]
    assert ch.terminator is None


def test_zero_count_is_an_empty_frame_at_once() -> None:
    ch = Channel(0)
    assert ch.next_event() == Terminator(0)  # no byte needed
    assert ch.terminator is None
    ch.receive_data(b"abc")
    assert drain(ch) == [Data(b"abc")]
    ch = Channel(b"\n")
    ch.receive_data(b"SETB k 0\nGET k\n")
    got = []
    for frame in ch.frames():
        got.append(frame)
        if frame.startswith(b"SETB"):
            ch.terminator = int(frame.split()[2])
        else:
            ch.terminator = b"\n"
    assert got == [b"SETB k 0", b"", b"GET k"]


def test_tuple_terminator_earliest_then_longest() -> None:
    ch = Channel((b"\n", b"\r\n"))
    ch.receive_data(b"a\r\nb\nc")
    assert drain(ch) == [
        Data(b"a"),
        Terminator(b"\r\n"),
        Data(b"b"),
        Terminator(b"\n"),
        Data(b"c"),
    ]
    ch = Channel((b"\r", b"\r\n"))
    ch.receive_data(b"x\r")
    assert drain(ch) == [Data(b"x")]  # "\r" alone is not decided yet
    ch.receive_data(b"\ny\rz")
    assert drain(ch) == [Terminator(b"\r\n"), Data(b"y"), Terminator(b"\r"), Data(b"z")]


def test_tuple_terminator_waits_for_an_earlier_longer_match() -> None:
    ch = Channel((b"abcd", b"c"))
    ch.receive_data(b"xabc")
    # "abcd" could still start at 1, earlier than the complete match "c" at 3.
    assert drain(ch) == [Data(b"x")]
    ch.receive_data(b"d!")
    assert drain(ch) == [Terminator(b"abcd"), Data(b"!")]


def test_tuple_terminator_is_decided_at_eof() -> None:
    ch = Channel((b"\r", b"\r\n"))
    ch.receive_data(b"x\r")
    ch.receive_data(b"")
    assert drain(ch) == [Data(b"x"), Terminator(b"\r"), ConnectionClosed()]


def test_terminator_change_applies_from_the_next_unread_byte() -> None:
    # The HTTP header -> Content-Length pattern of the asynchat docs.
    ch = Channel(b"\r\n\r\n")
    ch.receive_data(b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n")
    assert ch.next_event() == Data(b"POST / HTTP/1.0\r\nContent-Length: 5")
    assert ch.next_event() == Terminator(b"\r\n\r\n")
    ch.terminator = 5
    assert ch.next_event() == Data(b"hello")
    assert ch.next_event() == Terminator(5)
    ch.set_terminator(b"\r\n\r\n")
    assert drain(ch) == [Data(b"GET / HTTP/1.0"), Terminator(b"\r\n\r\n")]


def test_terminator_change_between_data_and_its_terminator() -> None:
    ch = Channel(b";")
    ch.receive_data(b"ab;cd;")
    assert ch.next_event() == Data(b"ab")
    ch.set_terminator(b"d")
    assert drain(ch) == [Data(b";c"), Terminator(b"d"), Data(b";")]


def test_terminator_change_inside_frames_loop() -> None:
    ch = Channel(b"\n")
    ch.receive_data(b"LEN 3\nabcLEN 2\nxy")
    got = []
    for frame in ch.frames():
        got.append(frame)
        if frame.startswith(b"LEN "):
            ch.terminator = int(frame[4:])
        else:
            ch.terminator = b"\n"
    assert got == [b"LEN 3", b"abc", b"LEN 2", b"xy"]


def test_eof_flushes_held_back_bytes_then_closes() -> None:
    ch = Channel(b"\r\n")
    ch.receive_data(b"abc\r")
    assert drain(ch) == [Data(b"abc")]
    ch.receive_data(b"")
    assert drain(ch) == [Data(b"\r"), ConnectionClosed()]
    assert ch.eof
    # ConnectionClosed is sticky for next_event(); events() stops after it.
    assert ch.next_event() == ConnectionClosed()
    assert ch.next_event() == ConnectionClosed()
    assert drain(ch) == [ConnectionClosed()]


def test_eof_with_nothing_buffered() -> None:
    ch = Channel()
    ch.receive_data(b"")
    assert ch.next_event() == ConnectionClosed()


def test_data_after_eof_is_an_error_and_changes_nothing() -> None:
    ch = Channel(b"\n")
    ch.receive_data(b"tail")
    ch.receive_data(b"")
    with pytest.raises(DataAfterEOF, match="after EOF"):
        ch.receive_data(b"more")
    with pytest.raises(ValueError, match="after EOF"):  # it is a ValueError too
        ch.receive_data(bytearray(b"x"))
    ch.receive_data(b"")  # a repeated EOF is harmless
    assert drain(ch) == [Data(b"tail"), ConnectionClosed()]


def test_frames_yields_complete_frames_only() -> None:
    ch = Channel(b"\r\n")
    ch.receive_data(b"one\r\ntwo\r\n\r\nthr")
    assert list(ch.frames()) == [b"one", b"two", b""]
    assert list(ch.frames()) == []
    ch.receive_data(b"ee\r\n")
    assert list(ch.frames()) == [b"three"]


def test_frames_after_eof_leaves_trailing_data() -> None:
    ch = Channel(b"\n")
    ch.receive_data(b"a\nb\ntail")
    assert ch.trailing_data == b""  # nothing is trailing before EOF
    ch.receive_data(b"")
    assert list(ch.frames()) == [b"a", b"b"]
    assert ch.trailing_data == b"tail"
    assert ch.trailing_data == b"tail"  # reading it does not consume it
    assert drain(ch) == [Data(b"tail"), ConnectionClosed()]
    assert ch.trailing_data == b""


def test_frame_too_long_when_complete_skips_the_frame() -> None:
    ch = Channel(b"\n", max_frame_size=4)
    ch.receive_data(b"ok\ntoolong\nfine\n")
    frames = ch.frames()
    assert next(frames) == b"ok"
    with pytest.raises(FrameTooLong) as info:
        next(frames)
    assert info.value.size == 7
    assert info.value.max_frame_size == 4
    assert info.value.complete
    assert "max_frame_size=4" in str(info.value)
    assert list(ch.frames()) == [b"fine"]


def test_frame_too_long_when_unterminated_skips_through_the_terminator() -> None:
    ch = Channel(b"\r\n", max_frame_size=8)
    ch.receive_data(b"0123456789\r")
    with pytest.raises(FrameTooLong) as info:
        list(ch.frames())
    assert not info.value.complete
    assert ch.buffered_input <= 1  # the frame was dropped; memory stays bounded
    ch.receive_data(b"\nnext\r\n")  # the "\r" held back completes the skipped frame
    assert list(ch.frames()) == [b"next"]


def test_frame_too_long_for_a_count() -> None:
    ch = Channel(10, max_frame_size=4)
    ch.receive_data(b"0123456789after")
    with pytest.raises(FrameTooLong) as info:
        list(ch.frames())
    assert info.value.size == 10  # the declared count
    assert info.value.complete
    assert ch.terminator is None
    assert ch.buffered_input == 5  # the ten counted bytes are gone
    ch.terminator = 4
    assert list(ch.frames()) == [b"afte"]


def test_frames_with_tuple_and_count_terminators() -> None:
    ch = Channel((b"\n", b"\r\n"))
    ch.receive_data(b"a\r\nb\nc\r")
    assert list(ch.frames()) == [b"a", b"b"]
    ch.receive_data(b"\n")
    assert list(ch.frames()) == [b"c"]
    ch.terminator = 3
    ch.receive_data(b"xyzw")
    assert list(ch.frames()) == [b"xyz"]
    assert ch.terminator is None


@pytest.mark.parametrize("terminator", [b"aa", b"\r\n.\r\n", b"abab"])
def test_self_overlapping_terminators(terminator: bytes) -> None:
    data = b"x" + terminator + terminator[:-1] + terminator + b"y" + terminator * 3
    expected = []
    pos = 0
    while (idx := data.find(terminator, pos)) >= 0:
        expected.append(data[pos:idx])
        pos = idx + len(terminator)
    ch = Channel(terminator)
    ch.receive_data(data)
    assert list(ch.frames()) == expected
    ch = Channel(terminator)
    for i in range(len(data)):
        ch.receive_data(data[i : i + 1])
    assert list(ch.frames()) == expected


def test_next_event_and_frames_can_be_mixed() -> None:
    ch = Channel(b"\n")
    ch.receive_data(b"a\nb\nc\nd\n")
    assert ch.next_event() == Data(b"a")
    assert next(ch.frames()) == b""  # the rest of the frame: nothing before its terminator
    assert next(ch.frames()) == b"b"
    assert drain(ch) == [Data(b"c"), Terminator(b"\n"), Data(b"d"), Terminator(b"\n")]


def test_discard_buffers_drops_input_and_output() -> None:
    ch = Channel(b"\n")
    ch.receive_data(b"a\nb\nc")
    assert ch.next_event() == Data(b"a")
    ch.push(b"out")
    ch.close_when_done()
    ch.discard_buffers()
    assert ch.buffered_input == 0
    assert ch.data_to_send() == b""
    assert not ch.wants_close
    ch.receive_data(b"z\n")
    assert drain(ch) == [Data(b"z"), Terminator(b"\n")]


def test_repr_mentions_the_state() -> None:
    ch = Channel(b"\n")
    ch.receive_data(b"abc")
    assert "terminator=b'\\n'" in repr(ch)
    assert "buffered=3" in repr(ch)
