"""The connection policy (asyncframe._driver), driven by hand: no I/O, a fake clock."""

from __future__ import annotations

import errno
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncframe import Handler
from asyncframe._driver import AcceptBackoff, Driver, State


class Replies(Handler):
    """Answers every line with *size* bytes; remembers the most output ever queued."""

    def __init__(self, size: int) -> None:
        super().__init__(terminator=b"\n")
        self.size = size
        self.frames: list[bytes] = []
        self.peak = 0

    def on_frame(self, frame: bytes) -> None:
        self.frames.append(frame)
        self.push(b"%-*s" % (self.size, frame))
        self.peak = max(self.peak, self.buffered_output)


@given(
    high_water=st.integers(min_value=1, max_value=300),
    size=st.integers(min_value=2, max_value=100),  # a reply is never longer than this
    count=st.integers(min_value=0, max_value=60),
    take=st.integers(min_value=1, max_value=200),
)
def test_output_bounds_dispatch_whatever_one_read_holds(
    high_water: int, size: int, count: int, take: int
) -> None:
    handler = Replies(size)
    driver = Driver(handler, high_water=high_water)
    driver.start()
    if count:
        driver.receive(b"".join(b"%d\n" % i for i in range(count)))  # one read, every request
    sent = bytearray()
    for _ in range(10_000):
        assert handler.peak <= high_water + size  # the mark plus one reply, ever
        data = driver.take(take)
        if not data:
            assert driver.reading  # no output left: the held input was dispatched
            break
        sent += data
    assert handler.frames == [b"%d" % i for i in range(count)]  # all, in order
    assert bytes(sent) == b"".join(b"%-*d" % (size, i) for i in range(count))


def test_a_raising_callback_fails_only_its_connection(caplog: pytest.LogCaptureFixture) -> None:
    class Boom(Handler):
        def on_frame(self, frame: bytes) -> None:
            self.push(b"before\n")
            raise RuntimeError("boom")

        def on_close(self) -> None:
            raise ValueError("on_close too")

    driver = Driver(Boom(terminator=b"\n"), high_water=100)
    driver.start()
    driver.receive(b"x\ny\n")
    assert driver.state is State.DRAINING
    assert not driver.reading
    # What was pushed before the failure is sent, then the connection closes; the
    # frame after the failing one is not dispatched.
    assert driver.take(None) == b"before\n"
    assert driver.finished
    driver.lost()
    driver.lost()  # once
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "raised; closing its connection" in messages[0]
    assert "on_close of" in messages[1]


def test_close_beats_flush_and_close_when_done_waits_for_it() -> None:
    h = Handler()
    d = Driver(h, high_water=100)
    h.push(b"pending")
    h.close()
    assert d.aborting
    assert d.take(None) == b""

    h = Handler()
    d = Driver(h, high_water=100)
    d.start()
    h.push(b"pending")
    h.close_when_done()
    assert not d.aborting
    assert not d.finished
    assert not d.reading
    assert d.take(None) == b"pending"
    assert d.finished


def test_after_the_peers_eof_close_once_output_is_flushed() -> None:
    class Tail(Handler):
        def on_eof(self) -> None:
            self.push(b"tail:" + self.channel.trailing_data)

        def on_frame(self, frame: bytes) -> None:
            self.push(frame)

    d = Driver(Tail(terminator=b"\n"), high_water=100)
    d.start()
    d.receive(b"a\nrest")
    assert not d.finished
    d.receive(b"")
    assert not d.reading
    assert not d.finished
    assert d.take(None) == b"atail:rest"
    assert d.finished


def test_eof_waits_for_input_held_back_by_high_water() -> None:
    handler = Replies(10)
    d = Driver(handler, high_water=10)
    d.start()
    d.receive(b"1\n2\n3\n")
    d.receive(b"")
    assert handler.frames == [b"1", b"2"]
    assert not d.finished
    out = b""
    while data := d.take(4):
        out += data
    assert handler.frames == [b"1", b"2", b"3"]
    assert d.finished
    assert len(out) == 30


def test_idle_bookkeeping_on_the_adapters_clock() -> None:
    now = [100.0]
    d = Driver(Handler(), high_water=10, idle_timeout=5.0, clock=lambda: now[0])
    d.start()
    assert d.idle_deadline == 105.0
    now[0] = 103.0
    d.receive(b"x")
    assert d.idle_check(104.0) == pytest.approx(4.0)  # re-arm for the rest
    assert not d.aborting
    assert d.idle_check(108.0) is None
    assert d.aborting
    assert Driver(Handler(), high_water=1).idle_check(1e9) is None  # no timeout set


def test_wakeups_from_outside_are_coalesced() -> None:
    calls: list[int] = []
    h = Handler()
    d = Driver(h, high_water=100, schedule=lambda: calls.append(1))
    h.push(b"a")
    h.push(b"b")
    h.close_when_done()
    assert calls == [1]
    d.woke()
    d.take(None)
    assert calls == [1]


def test_pushes_inside_callbacks_wake_nothing() -> None:
    calls: list[int] = []

    class Echo(Handler):
        def on_frame(self, frame: bytes) -> None:
            self.push(frame)

    d = Driver(Echo(terminator=b"\n"), high_water=100, schedule=lambda: calls.append(1))
    d.start()
    d.receive(b"a\nb\n")
    assert calls == []
    assert d.take(None) == b"ab"


def test_peername_is_set_before_on_connect() -> None:
    seen: list[object] = []

    class Peer(Handler):
        def on_connect(self) -> None:
            seen.append(self.peername)

    Driver(Peer(), high_water=1).start(("127.0.0.1", 4242))
    assert seen == [("127.0.0.1", 4242)]


def test_accept_backoff_logs_a_burst_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backoff = AcceptBackoff(logging.getLogger("test.accept"))
    emfile = OSError(errno.EMFILE, "Too many open files")
    assert [backoff.failed(emfile) for _ in range(1000)] == [0.1] * 1000
    assert backoff.failed(OSError(errno.ECONNABORTED, "aborted")) is None
    backoff.succeeded()
    backoff.succeeded()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "pausing the listener" in warnings[0]
    assert "after 1000 failed attempts" in warnings[1]


def test_eof_with_input_held_is_the_eof_state_and_on_eof_follows() -> None:
    class Tail(Replies):
        def on_eof(self) -> None:
            self.push(b"eof")

    handler = Tail(10)
    d = Driver(handler, high_water=10)
    d.start()
    d.receive(b"1\n2\n3\n")
    d.receive(b"")  # while input is held: not reading any more, on_eof still to come
    assert d.state is State.EOF
    assert not d.reading
    out = b""
    while data := d.take(4):
        out += data
    assert out.endswith(b"eof")
    assert d.state is State.DRAINING

    handler = Tail(10)
    d = Driver(handler, high_water=10)
    d.start()
    d.receive(b"1\n2\n3\n4\n5\n")
    assert d.state is State.HELD
    d.take(10)  # not enough drained: still held
    d.receive(b"")
    assert d.state is State.EOF
