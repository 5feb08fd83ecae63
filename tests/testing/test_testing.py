"""asyncframe.testing: the strategies and the drivers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncframe import (
    Channel,
    ConnectionClosed,
    Data,
    FrameTooLong,
    Handler,
    Terminator,
    TerminatorSpec,
)
from asyncframe.testing import Transcript, chunkings, drive_channel, drive_handler, terminators


@settings(max_examples=200)
@given(data=st.data(), payload=st.binary(max_size=40))
def test_chunkings_rejoin_to_the_data(data: st.DataObject, payload: bytes) -> None:
    chunks = data.draw(chunkings(payload))
    assert b"".join(chunks) == payload
    assert all(chunks)


def test_every_split_is_reachable() -> None:
    seen: set[tuple[bytes, ...]] = set()

    @settings(max_examples=400, database=None)
    @given(chunks=chunkings(b"abcd"))
    def collect(chunks: list[bytes]) -> None:
        seen.add(tuple(chunks))

    collect()
    assert len(seen) == 8  # 2 ** (4 - 1) ways to split four bytes


def test_chunkings_of_tiny_data() -> None:
    @given(chunks=chunkings(b""))
    def empty(chunks: list[bytes]) -> None:
        assert chunks == []

    @given(chunks=chunkings(b"x", max_chunks=1))
    def one(chunks: list[bytes]) -> None:
        assert chunks == [b"x"]

    empty()
    one()
    with pytest.raises(TypeError, match="data must be bytes"):
        chunkings("text")  # type: ignore[arg-type]


@settings(max_examples=200)
@given(term=terminators())
def test_terminators_are_accepted_by_a_channel(term: TerminatorSpec) -> None:
    ch = Channel(term)
    assert ch.terminator == term


def test_terminators_options() -> None:
    @settings(max_examples=100)
    @given(term=terminators(counts=False, none=False, tuples=False, alphabet=b"x"))
    def only_bytes(term: TerminatorSpec) -> None:
        assert isinstance(term, bytes)
        assert term

    only_bytes()
    with pytest.raises(ValueError, match="alphabet must not be empty"):
        terminators(alphabet=b"")


def test_drive_channel() -> None:
    t = drive_channel(Channel(b"\n"), [b"a\nb", b"c\nta", b"il"])
    assert t.events == (
        Data(b"a"),
        Terminator(b"\n"),
        Data(b"b"),
        Data(b"c"),
        Terminator(b"\n"),
        Data(b"ta"),
        Data(b"il"),
        ConnectionClosed(),
    )
    assert t.frames() == [b"a", b"bc"]
    assert t.tail() == b"tail"
    assert t.output == b""
    assert not t.closed


def test_drive_channel_reacting_to_events() -> None:
    def react(ch: Channel, event: object) -> None:
        if event == Terminator(b"\n"):
            ch.push(b"ok\n")
            ch.set_terminator(3)
        elif event == Terminator(3):
            ch.close_when_done()

    t = drive_channel(Channel(b"\n"), [b"LEN\nxyz"], eof=False, on_event=react)
    assert t.frames() == [b"LEN", b"xyz"]
    assert t.output == b"ok\n"
    assert t.closed


class Greeter(Handler):
    def __init__(self) -> None:
        super().__init__(terminator=b"\n")

    def on_connect(self) -> None:
        self.push(b"hello\n")

    def on_terminator(self, terminator: bytes | int) -> None:
        self.push(b"got one\n")

    def on_eof(self) -> None:
        self.push(b"bye\n")


def test_drive_handler_records_callbacks_and_output() -> None:
    t = drive_handler(Greeter(), [b"a\nb", b"c\n", b"tail"])
    assert t.events == (
        ("connect",),
        ("data", b"a"),
        ("terminator", b"\n"),
        ("data", b"b"),
        ("data", b"c"),
        ("terminator", b"\n"),
        ("data", b"tail"),
        ("eof",),
        ("close",),
    )
    assert t.frames() == [b"a", b"bc"]
    assert t.tail() == b"tail"
    assert t.output == b"hello\ngot one\ngot one\nbye\n"
    assert t.closed  # the peer's EOF was handled: the connection is over
    assert isinstance(t, Transcript)


def test_drive_handler_closed_says_whether_the_connection_is_over() -> None:
    assert drive_handler(Greeter(), [b"a\n"]).closed  # the peer's EOF ends it
    assert not drive_handler(Greeter(), [b"a\n"], eof=False).closed  # still open


def test_drive_handler_stops_feeding_once_closed() -> None:
    class Quitter(Handler):
        def __init__(self) -> None:
            super().__init__(terminator=b"\n")

        def on_terminator(self, terminator: bytes | int) -> None:
            self.push(b"bye\n")
            self.close_when_done()

    t = drive_handler(Quitter(), [b"QUIT\n", b"ignored\n"])
    assert t.output == b"bye\n"
    assert t.closed
    assert ("data", b"ignored") not in t.events
    assert t.events[-1] == ("close",)


def test_strategies_without_hypothesis_name_the_extra() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "from asyncframe.testing import drive_channel, chunkings\n"
        "from asyncframe import Channel\n"
        "print(drive_channel(Channel(b'\\n'), [b'a\\n']).frames())\n"
        "try:\n"
        "    chunkings(b'abc')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "[b'a']" in out  # the drivers work without hypothesis
    assert 'pip install "asyncframe[test]"' in out


def test_the_kit_works_without_trio_and_hypothesis() -> None:
    code = (
        "import sys; sys.modules['trio'] = None; sys.modules['hypothesis'] = None\n"
        "from asyncframe.testing import SelectorsAdapter, TrioAdapter, check_peername\n"
        "check_peername(SelectorsAdapter())\n"
        "try:\n"
        "    check_peername(TrioAdapter())\n"
        "except ImportError as exc:\n"
        "    print('trio:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    # Only the trio adapter needs trio, and it names the extra when used.
    assert 'trio: TrioAdapter needs trio: pip install "asyncframe[trio]"' in out


def test_drive_handler_records_whole_frames_under_the_adapters_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Lines(Handler):
        def on_frame(self, frame: bytes) -> None:
            if frame == b"BOOM":
                raise RuntimeError("a bug in the protocol")
            self.push(frame.upper() + b"\n")

    transcript = drive_handler(Lines(terminator=b"\n"), [b"ab\ncd\n", b"BOOM\nlost\n"])
    assert transcript.frames() == [b"ab", b"cd", b"BOOM"]
    assert transcript.output == b"AB\nCD\n"
    # The raising callback closed this connection, as on every adapter, and was logged.
    assert transcript.closed
    assert transcript.events[-1] == ("close",)
    assert "a bug in the protocol" in caplog.text


def test_drive_handler_records_batches_and_frames_too_long() -> None:
    class Batches(Handler):
        def on_frames(self, frames: list[bytes]) -> None:
            self.push(b"%d\n" % len(frames))

        def on_frame_too_long(self, error: FrameTooLong) -> None:
            self.push(b"too long\n")

    transcript = drive_handler(
        Batches(terminator=b"\n", max_frame_size=4), [b"a\nb\nc\nd\n", b"toolong\ne\n"]
    )
    kinds = [event[0] for event in transcript.events]
    assert kinds.count("frame_too_long") == 1
    delivered = [frame for event in transcript.events if event[0] == "frames" for frame in event[1]]
    assert delivered == [b"a", b"b", b"c", b"d", b"e"]
