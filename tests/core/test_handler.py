"""Handler driven by hand through its driver interface (no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncframe import FrameTooLong, Handler, SendAfterClose
from asyncframe._driver import Driver, State


class Recorder(Handler):
    def __init__(self) -> None:
        super().__init__(terminator=b"\n")
        self.log: list[object] = []

    def on_connect(self) -> None:
        self.log.append("connect")

    def on_data(self, data: bytes) -> None:
        self.log.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        self.log.append(terminator)
        if self.log[-2] == b"QUIT":
            self.push(b"bye\n")
            self.close_when_done()
        elif self.log[-2] == b"KILL":
            self.close()
        elif self.log[-2] == b"LEN":
            self.set_terminator(3)
        else:
            self.push(b"ok\n")
            if isinstance(terminator, int):
                self.set_terminator(b"\n")

    def on_close(self) -> None:
        self.log.append("close")


def run(handler: Handler) -> Driver:
    """Start *handler* under the Driver every adapter uses."""
    driver = Driver(handler)
    driver.start()
    return driver


def test_callbacks_follow_the_events() -> None:
    h = Recorder()
    d = run(h)
    d.start()  # on_connect runs once
    d.receive(b"a\nLEN\nxyzb")
    assert h.log == ["connect", b"a", b"\n", b"LEN", b"\n", b"xyz", 3, b"b"]
    assert h.get_terminator() == b"\n"
    assert d.take(None) == b"ok\nok\n"
    d.receive(b"")
    assert h.channel.eof
    d.receive(b"")  # twice is harmless
    d.lost()
    d.lost()
    assert h.log[-1] == "close"
    assert h.log.count("close") == 1
    assert d.state is State.CLOSED
    assert h.driver is None  # unlinked: nothing refers back to the driver


def test_close_when_done_lets_output_drain_first() -> None:
    h = Recorder()
    d = run(h)
    d.receive(b"QUIT\n")
    assert d.state is State.DRAINING
    assert not d.finished
    assert d.peek(10) == b"bye\n"
    d.consume(4)
    assert d.finished
    assert not d.aborting


def test_close_aborts_and_stops_dispatching() -> None:
    h = Recorder()
    d = run(h)
    d.receive(b"x\nKILL\nafter\n")
    assert d.state is State.ABORTING
    assert d.finished
    assert d.aborting
    assert b"after" not in h.log
    assert d.take(None) == b""  # nothing more is sent after close()
    assert d.peek(10) == b""


def test_wakeup_is_called_for_output_and_closes() -> None:
    h = Recorder()
    calls: list[str] = []
    d = Driver(h, schedule=lambda: calls.append("wake"))
    d.start()
    h.push(b"x")
    h.push_with_producer(iter([b"y"]))  # coalesced: the adapter has not come back yet
    assert calls == ["wake"]
    assert d.take(None) == b"xy"
    h.close_when_done()
    assert calls == ["wake"] * 2
    d.woke()
    h.close()
    assert calls == ["wake"] * 3
    d.lost()
    h2 = Recorder()
    d2 = Driver(h2, schedule=lambda: calls.append("late"))
    d2.start()
    d2.lost()
    with pytest.raises(SendAfterClose, match="after the connection ended"):
        h2.push(b"z")  # refused, and no wakeup, after the connection is gone
    assert "late" not in calls


def test_default_callbacks_do_nothing() -> None:
    h = Handler()
    d = run(h)
    d.receive(b"line\r\n")
    d.receive(b"")
    assert d.take(None) == b""
    assert d.finished  # EOF seen and nothing to send: the connection closes
    d.lost()
    assert h.channel.get_terminator() == b"\r\n"


def test_on_eof_comes_after_the_last_data_and_can_still_push() -> None:
    class Tail(Recorder):
        def on_eof(self) -> None:
            self.log.append("eof")
            self.push(b"tail seen\n")

    h = Tail()
    d = run(h)
    d.receive(b"x\nunfinished\r")
    d.receive(b"")
    assert h.log[-3:] == [b"\n", b"unfinished\r", "eof"]
    assert not d.finished  # output is still queued
    assert d.take(None) == b"ok\ntail seen\n"
    assert d.finished
    d.receive(b"")
    assert h.log.count("eof") == 1


def test_dispatch_stops_after_close_when_done() -> None:
    class Closing(Recorder):
        def on_eof(self) -> None:
            self.log.append("eof")

    h = Closing()
    d = run(h)
    d.receive(b"QUIT\nafter\n")
    assert b"after" not in h.log
    assert d.take(None) == b"bye\n"
    assert d.finished
    d.receive(b"")  # no on_eof for a protocol that is already closing
    assert "eof" not in h.log


def test_buffered_output_is_what_the_driver_has_not_taken() -> None:
    handler = Recorder()
    d = run(handler)
    d.receive(b"a\nb\n")
    assert handler.buffered_output == d.buffered_output == len(b"ok\nok\n")
    assert d.take(4) == b"ok\no"
    assert handler.buffered_output == 2


# -- whole frames ------------------------------------------------------------------------

MAX = 12


class FrameRecorder(Handler):
    """A line protocol in the whole-frame style, recording what it is given.

    ``SIZE n`` announces an n-byte body (a count frame); ``CLOSE`` closes at once;
    ``BYE`` closes when done. A frame that is too long is recorded and skipped.
    """

    def __init__(self) -> None:
        super().__init__(terminator=b"\n", max_frame_size=MAX)
        self.got: list[tuple[str, bytes]] = []

    def on_frame(self, frame: bytes) -> None:
        if self.get_terminator() != b"\n":
            self.got.append(("body", frame))
            self.set_terminator(b"\n")
            return
        self.got.append(("frame", frame))
        if frame.startswith(b"SIZE "):
            self.set_terminator(int(frame[5:]))
        elif frame == b"CLOSE":
            self.close()
        elif frame == b"BYE":
            self.close_when_done()

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        self.got.append(("too long", b""))

    def on_eof(self) -> None:
        self.got.append(("eof", self.channel.trailing_data))


class BatchRecorder(FrameRecorder):
    """The same protocol through the batch hook (it never changes terminators here)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def on_frames(self, frames: list[bytes]) -> None:
        self.batches.append(len(frames))
        super().on_frames(frames)


def model(stream: bytes, *, sizes: bool = True) -> list[tuple[str, bytes]]:
    """What FrameRecorder must see for *stream* followed by EOF, whatever the chunking."""
    got: list[tuple[str, bytes]] = []
    pos = 0
    while True:
        idx = stream.find(b"\n", pos)
        if idx < 0:
            tail = stream[pos:]
            if len(tail) > MAX:
                got.append(("too long", b""))
                tail = b""
            got.append(("eof", tail))
            return got
        frame = stream[pos:idx]
        pos = idx + 1
        if len(frame) > MAX:
            got.append(("too long", b""))
            continue
        got.append(("frame", frame))
        if frame == b"CLOSE":
            return got
        if frame == b"BYE":
            return got
        if sizes and frame.startswith(b"SIZE "):
            n = int(frame[5:])
            if len(stream) - pos < n:
                got.append(("eof", b""))
                return got
            got.append(("body", stream[pos : pos + n]))
            pos += n


lines = st.one_of(
    # Any line but a SIZE command (size_commands makes those, with a valid count).
    st.binary(max_size=MAX + 6)
    .map(lambda b: b.replace(b"\n", b"."))
    .filter(lambda line: not line.startswith(b"SIZE ")),
    st.sampled_from([b"CLOSE", b"BYE", b"ok"]),
)
#: What follows the last line: any bytes but the terminator.
tails = st.binary(max_size=MAX + 3).map(lambda b: b.replace(b"\n", b"."))
size_commands = st.binary(min_size=1, max_size=MAX).map(
    lambda body: b"SIZE %d\n" % len(body) + body
)


def feed(handler: Handler, stream: bytes, cuts: list[int]) -> Driver:
    driver = Driver(handler, high_water=1 << 20)
    driver.start()
    points = sorted({c % (len(stream) + 1) for c in cuts})
    start = 0
    for point in [*points, len(stream)]:
        if start < point:
            driver.receive(stream[start:point])
            start = point
    driver.receive(b"")
    return driver


@given(
    st.lists(st.one_of(lines.map(lambda line: line + b"\n"), size_commands), max_size=12),
    tails,
    st.lists(st.integers(min_value=0), max_size=8),
)
def test_on_frame_matches_the_model_under_any_chunking(
    items: list[bytes], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(items) + tail
    handler = FrameRecorder()
    feed(handler, stream, cuts)
    # After CLOSE or BYE nothing more is delivered, not even on_eof.
    assert handler.got == model(stream)


@given(
    st.lists(lines.map(lambda line: line + b"\n"), max_size=12),
    tails,
    st.lists(st.integers(min_value=0), max_size=8),
)
def test_on_frames_delivers_the_same_frames_in_batches(
    items: list[bytes], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(items) + tail
    handler = BatchRecorder()
    feed(handler, stream, cuts)
    assert handler.got == model(stream, sizes=False)
    # With no output queued, a batch holds at most the allowance, which starts at
    # one frame and doubles after each full batch.
    allowance = 1
    for size in handler.batches:
        assert 1 <= size <= allowance
        if size == allowance:
            allowance *= 2


def test_on_frames_batches_keep_big_replies_bounded() -> None:
    class BigReplies(Handler):
        def on_frames(self, frames: list[bytes]) -> None:
            for frame in frames:
                self.push(b"x" * int(frame))

    reply, high_water = 256 * 1024, 65536
    handler = BigReplies(terminator=b"\n")
    driver = Driver(handler, high_water=high_water)
    driver.start()
    driver.receive(b"%d\n" % reply * 128)  # one read, 32 MiB of replies asked for
    peak, sent = handler.buffered_output, 0
    while sent < reply * 128:
        sent += len(driver.take(65536))
        peak = max(peak, handler.buffered_output)
    assert peak <= high_water + reply
    assert handler.channel.buffered_input == 0


def test_on_frames_gets_whole_reads_once_small_replies_let_it_grow() -> None:
    class Echo(Handler):
        def __init__(self) -> None:
            super().__init__(terminator=b"\n")
            self.batches: list[int] = []

        def on_frames(self, frames: list[bytes]) -> None:
            self.batches.append(len(frames))
            frames.append(b"")  # the list is the handler's to change
            self.push(b"\n".join(frames))

    handler = Echo()
    driver = Driver(handler, high_water=65536)
    driver.start()
    for _ in range(12):
        driver.receive(b"ok\n" * 1000)
        assert driver.take(None) == b"ok\n" * 1000
    assert handler.batches[-3:] == [1000, 1000, 1000]


class SizedReplies(Handler):
    """Answers every frame of a batch with *reply* bytes, and records the batch sizes."""

    def __init__(self, reply: int) -> None:
        super().__init__(terminator=b"\n")
        self.reply = b"x" * reply
        self.batches: list[int] = []

    def on_frames(self, frames: list[bytes]) -> None:
        self.batches.append(len(frames))
        self.push(self.reply * len(frames))


def test_on_frames_takes_the_rest_of_a_read_once_its_replies_fit() -> None:
    handler = SizedReplies(3)
    driver = Driver(handler, high_water=65536)
    driver.start()
    driver.receive(b"ok\n" * 1000)
    # One frame to measure the replies by, then every frame left: their replies fit.
    assert handler.batches == [1, 999]
    assert driver.take(None) == b"x" * 3000


def test_on_frames_sizes_each_batch_by_the_replies_to_the_one_before() -> None:
    reply, high_water = 100, 10_000
    handler = SizedReplies(reply)
    driver = Driver(handler, high_water=high_water)
    driver.start()
    driver.receive(b"ok\n" * 1000)  # 100,000 bytes of replies asked for in one read
    # 1 frame (100 bytes of reply), then the 99 that fill the room left, then one
    # more frame passes high_water and input waits.
    assert handler.batches == [1, 99, 1]
    peak, sent = handler.buffered_output, 0
    while sent < reply * 1000:
        sent += len(driver.take(4096))
        peak = max(peak, handler.buffered_output)
    assert peak <= high_water + reply
    assert sum(handler.batches) == 1000


class Repeater(Handler):
    """Answers each frame with the frame repeated by its first byte's value (0-9)."""

    def __init__(self) -> None:
        super().__init__(terminator=b"\n")

    def on_frames(self, frames: list[bytes]) -> None:
        self.push(b"".join(reply(frame) for frame in frames))


def reply(frame: bytes) -> bytes:
    return frame * (frame[0] % 10 if frame else 1) + b"\n"


@given(
    st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b".")), max_size=40),
    st.lists(st.integers(min_value=0), max_size=8),
    st.integers(min_value=1, max_value=300),
    st.lists(st.integers(min_value=0, max_value=100), max_size=8),
)
def test_on_frames_with_replies_of_any_size_answers_every_frame_in_order(
    frames: list[bytes], cuts: list[int], high_water: int, sends: list[int]
) -> None:
    # Batches sized from the replies before them (and whole reads once replies fit)
    # still deliver every frame once, in order, whatever the chunking and the sends.
    stream = b"".join(frame + b"\n" for frame in frames)
    handler = Repeater()
    driver = Driver(handler, high_water=high_water)
    driver.start()
    points = sorted({c % (len(stream) + 1) for c in cuts})
    wire, start = b"", 0
    for i, point in enumerate([*points, len(stream)]):
        if start < point:
            driver.receive(stream[start:point])
            start = point
        if sends:
            wire += driver.take(sends[i % len(sends)] or None)
    driver.receive(b"")
    while data := driver.take(None):
        wire += data
    assert wire == b"".join(map(reply, frames))
    assert driver.finished


class BehindAProducer(Handler):
    """Queues a producer first, so every reply waits behind it (in the fifo)."""

    def __init__(self) -> None:
        super().__init__(terminator=b"\n")

    def on_connect(self) -> None:
        self.push_with_producer(iter([b"hello\n"]))


class StreamBehind(BehindAProducer):
    def on_terminator(self, terminator: bytes | int) -> None:
        self.push(b"x" * 100)


class FrameBehind(BehindAProducer):
    def on_frame(self, frame: bytes) -> None:
        self.push(b"x" * 100)


@pytest.mark.parametrize("cls", [StreamBehind, FrameBehind])
def test_replies_behind_a_producer_count_for_the_output_limit(cls: type[Handler]) -> None:
    handler = cls()
    driver = Driver(handler, high_water=1000)
    driver.start()
    driver.receive(b"a\n" * 100)
    assert driver.state is State.HELD  # input waits: 1,100 bytes of replies are queued
    assert handler.buffered_output == 1100
    assert handler.channel.buffered_input == 2 * 89
    out = b""
    while data := driver.take(64):
        out += data
    assert out == b"hello\n" + b"x" * 100 * 100


def test_close_in_the_middle_of_a_batch_drops_the_rest() -> None:
    handler = BatchRecorder()
    feed(handler, b"a\nCLOSE\nb\nc\n", [])
    assert handler.got == [("frame", b"a"), ("frame", b"CLOSE")]
    # Batches of one, then two frames: CLOSE came first in [CLOSE, b], and b was dropped.
    assert handler.batches == [1, 2]


def test_a_count_set_in_on_frame_applies_from_the_next_byte() -> None:
    handler = FrameRecorder()
    feed(handler, b"SIZE 5\nhe\nlonext\n", [])
    assert handler.got == [
        ("frame", b"SIZE 5"),
        ("body", b"he\nlo"),
        ("frame", b"next"),
        ("eof", b""),
    ]


def test_the_default_frame_too_long_closes() -> None:
    class Plain(Handler):
        def on_frame(self, frame: bytes) -> None:
            self.push(frame)

    handler = Plain(terminator=b"\n", max_frame_size=4)
    driver = feed(handler, b"ok\n" + b"x" * 10 + b"\nlater\n", [])
    assert driver.aborting
    assert handler.closing


def test_streaming_style_is_kept_when_no_frame_hook_is_overridden() -> None:
    h = Recorder()
    run(h).receive(b"ab\n")
    assert h.log == ["connect", b"ab", b"\n"]


def test_push_after_close_or_close_when_done_raises() -> None:
    for end in ("close", "close_when_done"):
        h = Handler()
        getattr(h, end)()
        with pytest.raises(SendAfterClose):
            h.push(b"x")
        with pytest.raises(SendAfterClose):
            h.push_with_producer([b"x"])
        assert h.closing


def test_max_frame_size_none_lets_any_frame_through() -> None:
    class Collect(Handler):
        def __init__(self, limit: int | None) -> None:
            super().__init__(terminator=b"\n", max_frame_size=limit)
            self.frames: list[bytes] = []
            self.too_long = 0

        def on_frame(self, frame: bytes) -> None:
            self.frames.append(frame)

        def on_frame_too_long(self, error: FrameTooLong) -> None:
            self.too_long += 1

    line = b"x" * 200_000
    unlimited, limited = Collect(None), Collect(1000)
    for handler in (unlimited, limited):
        run(handler).receive(line + b"\nok\n")
    assert unlimited.frames == [line, b"ok"]
    assert (limited.frames, limited.too_long) == ([b"ok"], 1)


# -- output pushed from the callbacks ------------------------------------------------------


class Ops:
    """Runs the pushes a frame spells, one letter each, and keeps what must come out.

    ``b`` pushes bytes, ``a`` a bytearray, ``e`` empty bytes, ``m`` a memoryview
    and ``c`` bytes straight on the channel, ``p`` a producer; ``t`` takes the
    output from inside the callback and ``r`` checks ``buffered_output`` there.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.expected = bytearray()
        self.taken = bytearray()  # every byte taken, by the callbacks or the driver
        self.pending = 0  # bytes pushed and not taken yet...
        self.producer = False  # ...exactly, unless a producer waits (pulled lazily)
        self.n = 0

    def run(self, frame: bytes) -> None:
        h = self.handler
        for op in frame:
            self.n += 1
            tag = b"<%d>" % self.n
            if op == ord("b"):
                h.push(tag)
            elif op == ord("a"):
                buf = bytearray(tag)
                h.push(buf)
                buf[:] = b"!"  # queued as it was when pushed
            elif op == ord("e"):
                h.push(b"")
                tag = b""
            elif op == ord("m"):
                h.channel.push(memoryview(tag))
            elif op == ord("c"):
                h.channel.push(tag)
            elif op == ord("p"):
                h.push_with_producer(iter([tag, b"", tag]))
                tag += tag
                self.producer = True
            elif op == ord("t"):
                self.taken += h.channel.data_to_send()
                assert h.buffered_output == 0
                assert not h.channel.has_output()
                self.pending, self.producer = 0, False
                continue
            elif op == ord("r"):
                if not self.producer:
                    assert h.buffered_output == self.pending
                    assert h.channel.has_output() == bool(self.pending)
                continue
            self.expected += tag
            self.pending += len(tag)

    def sent(self, data: bytes) -> None:
        """The driver took *data* to send."""
        self.taken += data
        self.pending -= len(data)
        if not self.handler.channel.has_output():
            self.pending, self.producer = 0, False


class FrameOps(Handler):
    def __init__(self) -> None:
        super().__init__(terminator=b"\n")
        self.ops = Ops(self)

    def on_frame(self, frame: bytes) -> None:
        self.ops.run(frame)


class BatchOps(FrameOps):
    def on_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.ops.run(frame)


class StreamOps(FrameOps):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []

    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        frame = b"".join(self.parts)
        self.parts.clear()
        self.ops.run(frame)


@pytest.mark.parametrize("cls", [FrameOps, BatchOps, StreamOps])
@given(
    frames=st.lists(st.text("baemcptr", max_size=8).map(str.encode), max_size=12),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
    high_water=st.integers(min_value=1, max_value=64),
    sends=st.lists(st.integers(min_value=0, max_value=20), max_size=6),
)
def test_pushes_through_every_door_come_out_once_in_order(
    cls: type[FrameOps], frames: list[bytes], cuts: list[int], high_water: int, sends: list[int]
) -> None:
    # Pushes from callbacks are gathered (one list append each); a push of another
    # kind, a producer, the channel's own push, taking output or reading
    # buffered_output in the middle must each see them in place.
    stream = b"".join(frame + b"\n" for frame in frames)
    handler = cls()
    driver = Driver(handler, high_water=high_water)
    driver.start()
    ops = handler.ops
    points = sorted({c % (len(stream) + 1) for c in cuts})
    start = 0
    for i, point in enumerate([*points, len(stream)]):
        if start < point:
            driver.receive(stream[start:point])
            start = point
        if sends:
            ops.sent(driver.take(sends[i % len(sends)] or None))
    driver.receive(b"")
    while data := driver.take(None):
        ops.sent(data)
    assert ops.n == sum(map(len, frames))  # every frame's pushes ran
    assert ops.taken == ops.expected  # once each, in the order pushed
    assert driver.finished


class Closer(Handler):
    """Closes on its first frame by the door *end* names, then tries to push more."""

    def __init__(self, end: str) -> None:
        super().__init__(terminator=b"\n")
        self.end = end
        self.got: list[bytes] = []
        self.refused: list[str] = []
        self.parts: list[bytes] = []

    def on_frame(self, frame: bytes) -> None:
        self.got.append(frame)
        self.push(b"reply\n")
        if self.end == "channel.close_when_done":
            self.channel.close_when_done()
        else:
            getattr(self, self.end)()
        for push in (self.push, self.channel.push):
            try:
                push(b"late\n")
            except SendAfterClose:
                self.refused.append(push.__qualname__)


class StreamCloser(Closer):
    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        self.on_frame(b"".join(self.parts))
        self.parts.clear()


class BatchCloser(Closer):
    def on_frames(self, frames: list[bytes]) -> None:
        self.on_frame(frames[0])  # a batch of one: the first one is


@pytest.mark.parametrize("cls", [Closer, StreamCloser, BatchCloser])
@pytest.mark.parametrize("end", ["close", "close_when_done", "channel.close_when_done"])
def test_nothing_is_dispatched_after_a_close_by_any_door(cls: type[Closer], end: str) -> None:
    handler = cls(end)
    driver = run(handler)
    driver.receive(b"a\nb\nc\n")
    assert handler.got == [b"a"]
    assert handler.refused == ["Handler.push", "Channel.push"]
    assert driver.take(None) == (b"" if end == "close" else b"reply\n")


def test_the_pushes_of_one_read_are_joined_into_one_chunk() -> None:
    class Echo(Handler):
        def on_frame(self, frame: bytes) -> None:
            self.push(frame)
            self.push(b"\n")

    handler = Echo(terminator=b"\n")
    driver = run(handler)
    driver.receive(b"line\n" * 100)
    assert "output_items=1 " in repr(handler.channel)
    assert driver.take(None) == b"line\n" * 100
