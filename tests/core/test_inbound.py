"""The inbound semantics of Channel, one example at a time."""

from __future__ import annotations

import gc
import weakref

import pytest

from asyncframe import (
    NEED_DATA,
    Channel,
    ConnectionClosed,
    Data,
    DataAfterEOF,
    Event,
    FrameTooLong,
    ProtocolError,
    Terminator,
)


def drain(ch: Channel) -> list[Event]:
    return list(ch.events())


def test_the_documented_example() -> None:
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
    ch = Channel(10, max_record_size=4)
    ch.receive_data(b"0123456789after")
    with pytest.raises(FrameTooLong) as info:
        list(ch.frames())
    assert info.value.size == 10  # the declared count
    assert (info.value.limit_name, info.value.limit) == ("max_record_size", 4)
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


# -- the frame limit on every reading API ------------------------------------------------


def test_next_event_enforces_the_frame_limit_on_an_endless_line() -> None:
    ch = Channel(b"\n", max_frame_size=1024)
    chunk = b"x" * 512

    reported: list[bytes] = []

    def feed_endless_line() -> None:
        for _ in range(10240):  # 5 MiB, if nothing stopped it
            ch.receive_data(chunk)
            for event in ch.events():
                assert type(event) is Data
                reported.append(event.data)

    with pytest.raises(FrameTooLong) as info:
        feed_endless_line()
    # The Data already returned for the frame stays within the limit.
    assert 0 < sum(map(len, reported)) <= 1024
    assert not info.value.complete
    assert info.value.size > 1024
    # The rest of the line is skipped as it arrives; memory stays bounded.
    ch.receive_data(chunk)
    assert list(ch.events()) == []
    assert ch.buffered_input == 0
    ch.receive_data(b"tail\nnext\n")
    assert list(ch.events()) == [Data(b"next"), Terminator(b"\n")]


def test_events_raises_frame_too_long_for_a_complete_frame_and_goes_on() -> None:
    ch = Channel(b"\n", max_frame_size=4)
    ch.receive_data(b"ok\ntoolong\nfine\n")
    events = ch.events()
    assert next(events) == Data(b"ok")
    assert next(events) == Terminator(b"\n")
    with pytest.raises(FrameTooLong) as info:
        next(events)
    assert info.value.complete
    assert info.value.size == 7
    assert list(ch.events()) == [Data(b"fine"), Terminator(b"\n")]


@pytest.mark.parametrize("split", range(1, 10))
def test_held_back_bytes_never_count_against_the_limit(split: int) -> None:
    data = b"01234567\r\n"  # a payload of exactly max_frame_size bytes
    for read in ("frames", "events"):
        ch = Channel(b"\r\n", max_frame_size=8)
        got: list[object] = []
        for chunk in (data[:split], data[split:]):
            ch.receive_data(chunk)
            got.extend(ch.frames() if read == "frames" else ch.events())
        if read == "frames":
            assert got == [b"01234567"]
        else:
            assert b"".join(e.data for e in got if type(e) is Data) == b"01234567"  # type: ignore[attr-defined]
            assert got[-1] == Terminator(b"\r\n")


def test_a_count_over_the_limit_fails_at_once() -> None:
    ch = Channel(b"\n", max_record_size=16)
    ch.terminator = 1000
    with pytest.raises(FrameTooLong) as info:
        ch.next_event()  # no byte of it has arrived yet
    assert info.value.size == 1000  # the declared count
    assert not info.value.complete
    ch.receive_data(b"x" * 999)
    assert ch.next_event() is NEED_DATA  # skipped as it arrives
    ch.receive_data(b"xrest")
    assert list(ch.events()) == [Data(b"rest")]
    assert ch.terminator is None


def test_the_limit_can_be_lifted_and_none_has_no_limit() -> None:
    ch = Channel(b"\n", max_frame_size=None)
    ch.receive_data(b"x" * 200_000 + b"\n")
    assert list(ch.frames()) == [b"x" * 200_000]
    ch.max_frame_size = 4
    ch.terminator = None  # a raw stream is not a frame: no limit applies
    ch.receive_data(b"y" * 100)
    assert list(ch.events()) == [Data(b"y" * 100)]


# -- next_event is an ordinary method; errors; no reference cycle ------------------------


def test_a_subclass_next_event_is_called_by_events() -> None:
    class Upper(Channel):
        def next_event(self):  # type: ignore[no-untyped-def]
            event = super().next_event()
            return Data(event.data.upper()) if type(event) is Data else event

    ch = Upper(b"\n")
    ch.receive_data(b"abc\n")
    assert ch.next_event() == Data(b"ABC")
    ch.receive_data(b"def\n")
    assert list(ch.events()) == [Terminator(b"\n"), Data(b"DEF"), Terminator(b"\n")]


class _Interrupting(bytearray):
    """A buffer whose searches raise KeyboardInterrupt while armed."""

    armed = False

    def find(self, *args: object) -> int:  # type: ignore[override]
        if _Interrupting.armed:
            raise KeyboardInterrupt
        return super().find(*args)  # type: ignore[arg-type]


class _InterruptedChannel(Channel):
    _buffer_type = _Interrupting


@pytest.mark.parametrize("read", ["next_event", "events", "frames", "complete_frames"])
def test_an_exception_while_parsing_leaves_a_clear_error_state(read: str) -> None:
    # A frame over the limit: complete_frames() cannot take its one-split shortcut
    # (which commits nothing until it is done), so every read goes through find.
    ch = _InterruptedChannel(b"\n", max_frame_size=4)
    ch.receive_data(b"a\nbbbbbbbb\n")
    reads = {
        "next_event": ch.next_event,
        "events": lambda: list(ch.events()),
        "frames": lambda: list(ch.frames()),
        "complete_frames": ch.complete_frames,
    }
    _Interrupting.armed = True
    try:
        with pytest.raises(KeyboardInterrupt):
            reads[read]()
    finally:
        _Interrupting.armed = False
    for call in (ch.next_event, lambda: list(ch.events()), lambda: list(ch.frames())):
        with pytest.raises(ProtocolError, match="KeyboardInterrupt"):
            call()
    with pytest.raises(ProtocolError, match="interrupted"):
        ch.receive_data(b"more")


def test_a_channel_holds_no_reference_cycle() -> None:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        ch = Channel(b"\n")
        ch.receive_data(b"a\nb\nc\nd\n" * 100 + b"partial")
        assert ch.next_event() == Data(b"a")
        frames = ch.frames()
        next(frames)  # a batch is out
        del frames
        ch.push(b"out")
        ref = weakref.ref(ch)
        del ch
        assert ref() is None  # freed at once, without the cyclic collector
    finally:
        if was_enabled:
            gc.enable()


# -- complete_frames: every complete frame of the buffer as one list ---------------------


def test_complete_frames_returns_what_frames_yields() -> None:
    data = b"one\ntwo\n\nthree\npart"
    ch = Channel(b"\n")
    ch.receive_data(data)
    assert ch.complete_frames() == [b"one", b"two", b"", b"three"]
    assert ch.complete_frames() == []
    assert ch.buffered_input == 4
    ch.receive_data(b"ial\n")
    assert ch.complete_frames() == [b"partial"]


def test_complete_frames_stops_before_a_frame_over_the_limit() -> None:
    ch = Channel(b"\n", max_frame_size=4)
    ch.receive_data(b"ok\nfine\ntoolong\nnext\n")
    assert ch.complete_frames() == [b"ok", b"fine"]
    with pytest.raises(FrameTooLong) as info:
        ch.complete_frames()
    assert info.value.complete
    assert ch.complete_frames() == [b"next"]


def test_complete_frames_with_a_tuple_and_a_count() -> None:
    ch = Channel((b"\n", b"\r\n"))
    ch.receive_data(b"a\r\nb\nc")
    assert ch.complete_frames() == [b"a", b"b"]
    ch.terminator = 2
    assert ch.complete_frames() == []  # one byte of two
    ch.receive_data(b"de")
    assert ch.complete_frames() == [b"cd"]  # a count is one frame, then no terminator
    assert ch.terminator is None


def test_complete_frames_with_max_frames_leaves_the_rest_unread() -> None:
    ch = Channel(terminator=b"\n")
    ch.receive_data(b"a\nb\nc\nSIZE\n12345")
    assert ch.complete_frames(2) == [b"a", b"b"]
    assert ch.complete_frames(1) == [b"c"]
    assert ch.complete_frames(1) == [b"SIZE"]
    ch.set_terminator(3)  # applies to the unread bytes, although a batch split them
    assert ch.complete_frames(5) == [b"123"]
    assert ch.terminator is None
    assert ch.buffered_input == 2


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [(0, ValueError, "max_frames must be >= 1"), ("2", TypeError, "max_frames must be an int")],
)
def test_complete_frames_checks_max_frames(bad: object, error: type, message: str) -> None:
    ch = Channel(terminator=b"\n")
    ch.receive_data(b"a\nb\n")
    with pytest.raises(error, match=message):
        ch.complete_frames(bad)  # type: ignore[arg-type]
    assert ch.complete_frames() == [b"a", b"b"]  # the failed call changed nothing


def test_a_new_max_frame_size_applies_to_the_frame_being_read() -> None:
    ch = Channel(b"\n", max_frame_size=100)
    ch.receive_data(b"x" * 50)
    assert ch.next_event() == Data(b"x" * 50)
    ch.max_frame_size = 40  # the frame so far is already over it
    with pytest.raises(FrameTooLong) as info:
        ch.next_event()
    assert (info.value.size, info.value.complete) == (50, False)
    ch.receive_data(b"yy\nok\n")
    assert list(ch.events()) == [Data(b"ok"), Terminator(b"\n")]


def test_a_new_max_frame_size_keeps_skipping_a_rejected_frame() -> None:
    ch = Channel(b"\n", max_frame_size=4)
    ch.receive_data(b"x" * 10)
    with pytest.raises(FrameTooLong):
        ch.next_event()
    ch.max_frame_size = 100
    ch.receive_data(b"xx\nok\n")
    assert list(ch.events()) == [Data(b"ok"), Terminator(b"\n")]


@pytest.mark.parametrize("new_limit", [5, 7])
def test_a_running_count_over_a_new_max_record_size_reports_its_declared_size(
    new_limit: int,
) -> None:
    ch = Channel(10, max_record_size=100)
    ch.receive_data(b"abcd")
    assert ch.next_event() == Data(b"abcd")
    assert ch.terminator == 6
    ch.max_record_size = new_limit
    assert ch.terminator == 6  # the count goes on
    ch.receive_data(b"efgh")
    with pytest.raises(FrameTooLong) as info:
        ch.next_event()
    assert (info.value.size, info.value.max_frame_size) == (10, new_limit)
    ch.receive_data(b"ijREST")
    assert list(ch.events()) == [Data(b"REST")]
    assert ch.terminator is None


def test_a_delimiter_set_again_resumes_its_search_after_the_buffer_moved() -> None:
    # "\r\n." is held back as a possible start of the terminator; the terminator
    # changes, the next receive compacts the buffer, and the delimiter comes back:
    # its search goes on from the held bytes, at their new offset.
    ch = Channel(b"\r\n.\r\n")
    ch.receive_data(b"abc\r\n.")
    assert ch.next_event() == Data(b"abc")
    ch.set_terminator(100)
    ch.receive_data(b"\r\n")
    ch.set_terminator(b"\r\n.\r\n")
    assert list(ch.events()) == [Terminator(b"\r\n.\r\n")]
    ch.receive_data(b"x\r\n.\r\n")
    assert list(ch.frames()) == [b"x"]


def test_a_delimiter_set_again_after_discard_buffers_searches_afresh() -> None:
    ch = Channel(b"\r\n.\r\n")
    ch.receive_data(b"abc\r\n.")
    assert ch.next_event() == Data(b"abc")
    ch.set_terminator(100)
    ch.discard_buffers()
    ch.set_terminator(b"\r\n.\r\n")
    ch.receive_data(b"zz\r\n.\r\n")
    assert list(ch.events()) == [Data(b"zz"), Terminator(b"\r\n.\r\n")]
