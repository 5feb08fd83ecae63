"""Handler driven by hand through its driver interface (no I/O)."""

from __future__ import annotations

import pytest

from asyncframe import Handler, SendAfterClose


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


def test_callbacks_follow_the_events() -> None:
    h = Recorder()
    h.connection_made()
    h.connection_made()  # on_connect runs once
    h.data_received(b"a\nLEN\nxyzb")
    assert h.log == ["connect", b"a", b"\n", b"LEN", b"\n", b"xyz", 3, b"b"]
    assert h.get_terminator() == b"\n"
    assert h.take_output() == b"ok\nok\n"
    h.eof_received()
    assert h.peer_closed
    h.eof_received()  # twice is harmless
    h.connection_lost()
    h.connection_lost()
    assert h.log[-1] == "close"
    assert h.log.count("close") == 1
    assert h.closed


def test_close_when_done_lets_output_drain_first() -> None:
    h = Recorder()
    h.data_received(b"QUIT\n")
    assert h.wants_close is False
    assert h.peek_output(10) == b"bye\n"
    h.consume_output(4)
    assert h.wants_close
    assert not h.wants_abort


def test_close_aborts_and_stops_dispatching() -> None:
    h = Recorder()
    h.data_received(b"x\nKILL\nafter\n")
    assert h.wants_abort
    assert h.wants_close
    assert b"after" not in h.log
    assert h.take_output() == b""  # nothing more is sent after close()
    assert h.peek_output(10) == b""


def test_wakeup_is_called_for_output_and_closes() -> None:
    h = Recorder()
    calls: list[str] = []
    h.set_wakeup(lambda: calls.append("wake"))
    h.push(b"x")
    h.push_with_producer(iter([b"y"]))
    h.close_when_done()
    h.close()
    assert calls == ["wake"] * 4
    h.connection_lost()
    h2 = Recorder()
    h2.set_wakeup(lambda: calls.append("late"))
    h2.connection_lost()
    with pytest.raises(SendAfterClose, match="after the connection ended"):
        h2.push(b"z")  # refused, and no wakeup, after the connection is gone
    assert "late" not in calls


def test_default_callbacks_do_nothing() -> None:
    h = Handler()
    h.connection_made()
    h.data_received(b"line\r\n")
    h.eof_received()
    h.connection_lost()
    assert h.channel.get_terminator() == b"\r\n"


def test_on_eof_comes_after_the_last_data_and_can_still_push() -> None:
    class Tail(Recorder):
        def on_eof(self) -> None:
            self.log.append("eof")
            self.push(b"tail seen\n")

    h = Tail()
    h.data_received(b"x\nunfinished\r")
    h.eof_received()
    assert h.log[-3:] == [b"\n", b"unfinished\r", "eof"]
    assert h.take_output() == b"ok\ntail seen\n"
    h.eof_received()
    assert h.log.count("eof") == 1


def test_dispatch_stops_after_close_when_done() -> None:
    h = Recorder()
    h.data_received(b"QUIT\nafter\n")
    assert b"after" not in h.log
    assert h.take_output() == b"bye\n"
    assert h.wants_close
    h.eof_received()  # no on_eof for a protocol that is already closing
    assert "eof" not in h.log


def test_buffered_output_is_what_the_driver_has_not_taken() -> None:
    handler = Recorder()
    handler.connection_made()
    handler.data_received(b"a\nb\n")
    assert handler.buffered_output == len(b"ok\nok\n")
    assert handler.take_output(4) == b"ok\no"
    assert handler.buffered_output == 2
