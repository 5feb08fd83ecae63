"""The peer's malformed input (a record kind's bad header): the handler is told, its
earlier replies and its answer go out, then the connection closes."""

from __future__ import annotations

import logging

import pytest

from asyncframe import Driver, Handler, MarkedLines, ProtocolError, State

REQUEST = b"*1\r\n$4\r\nPING\r\n$x\r\nnever\r\n"


class Answering(Handler):
    """Echoes each frame as ``+frame``; answers malformed input with an error reply."""

    def __init__(self) -> None:
        super().__init__(terminator=MarkedLines())
        self.errors: list[ProtocolError] = []

    def on_protocol_error(self, error: ProtocolError) -> None:
        self.errors.append(error)
        self.push(b"-ERR Protocol error\r\n")


class ByFrame(Answering):
    def on_frame(self, frame: bytes) -> None:
        self.push(b"+" + frame + b"\r\n")


class ByBatch(Answering):
    def on_frames(self, frames: list[bytes]) -> None:
        self.push(b"".join(b"+" + frame + b"\r\n" for frame in frames))


class ByEvent(Answering):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []

    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def on_terminator(self, terminator: object) -> None:
        self.push(b"+" + b"".join(self.parts) + b"\r\n")
        self.parts.clear()


@pytest.mark.parametrize("style", [ByFrame, ByBatch, ByEvent])
@pytest.mark.parametrize("piece", [1, 3, len(REQUEST)])
def test_malformed_input_is_answered_then_the_connection_closes(
    style: type[Answering], piece: int, caplog: pytest.LogCaptureFixture
) -> None:
    handler = style()
    driver = Driver(handler)
    driver.start()
    output = b""
    with caplog.at_level(logging.INFO, logger="asyncframe"):
        for i in range(0, len(REQUEST), piece):
            driver.receive(REQUEST[i : i + piece])
            output += driver.take(None)
    assert output == b"+*1\r\n+PING\r\n-ERR Protocol error\r\n"
    assert len(handler.errors) == 1
    assert "$x" in str(handler.errors[0])
    assert driver.state is State.DRAINING
    assert driver.finished
    # Logged as what it is, the peer's doing: no traceback at ERROR.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_by_default_malformed_input_closes_after_the_replies_already_pushed() -> None:
    class Plain(Handler):
        def __init__(self) -> None:
            super().__init__(terminator=MarkedLines())

        def on_frame(self, frame: bytes) -> None:
            self.push(b"+" + frame + b"\r\n")

    driver = Driver(Plain())
    driver.start()
    driver.receive(REQUEST)
    assert driver.take(None) == b"+*1\r\n+PING\r\n"
    assert driver.finished


def test_a_protocol_error_the_handler_raises_is_a_raising_callback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Raising(Answering):
        def on_frame(self, frame: bytes) -> None:
            raise ProtocolError("the handler's own")

    handler = Raising()
    driver = Driver(handler)
    driver.start()
    with caplog.at_level(logging.ERROR, logger="asyncframe"):
        driver.receive(b"PING\r\n")
    assert handler.errors == []  # not the peer's input: on_protocol_error is not called
    assert driver.take(None) == b""
    assert driver.finished
    assert any(r.levelno >= logging.ERROR for r in caplog.records)
