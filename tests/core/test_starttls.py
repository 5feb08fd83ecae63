"""The engine's TLS upgrade (Handler.start_tls): the policy, without I/O."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncframe import Driver, Handler, State


def server_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)


CONTEXT = server_context()


class Smtpish(Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bytes] = []
        self.started = 0

    def line(self, frame: bytes) -> None:
        self.seen.append(frame)
        if frame == b"STARTTLS":
            self.push(b"220 go ahead\r\n")
            self.start_tls(CONTEXT)
            self.push(b"after\r\n")
        else:
            self.push(b"250 " + frame + b"\r\n")

    def on_tls_started(self) -> None:
        self.started += 1


class Frames(Smtpish):
    def on_frame(self, frame: bytes) -> None:
        self.line(frame)


class Batches(Smtpish):
    def on_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.line(frame)


class Stream(Smtpish):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []

    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        self.line(b"".join(self.parts))
        self.parts.clear()


STYLES = [Frames, Batches, Stream]


def started(handler: Handler) -> Driver:
    driver = Driver(handler)
    driver.start(("peer", 1))
    return driver


@pytest.mark.parametrize("style", STYLES)
def test_clear_reply_then_the_upgrade(style: type[Smtpish]) -> None:
    handler = style()
    driver = started(handler)
    driver.receive(b"EHLO x\r\nSTARTTLS\r\n")
    assert driver.state is State.UPGRADING
    assert not driver.reading
    upgrade = driver.tls_upgrade
    assert upgrade is not None
    assert upgrade.context is CONTEXT
    assert upgrade.server_side
    assert upgrade.server_hostname is None
    # Only what was pushed before the call goes out in clear text.
    assert not driver.upgrade_due
    assert driver.take(None) == b"250 EHLO x\r\n220 go ahead\r\n"
    assert driver.take(None) == b""
    assert driver.upgrade_due
    driver.tls_started("the ssl object")
    assert handler.ssl_object == "the ssl object"
    assert handler.started == 1
    assert driver.state is State.OPEN
    assert driver.tls_upgrade is None
    assert driver.take(None) == b"after\r\n"
    driver.receive(b"MAIL FROM:<a@b>\r\n")
    assert driver.take(None) == b"250 MAIL FROM:<a@b>\r\n"
    assert handler.seen == [b"EHLO x", b"STARTTLS", b"MAIL FROM:<a@b>"]


@pytest.mark.parametrize("style", STYLES)
def test_injection_after_the_command_is_not_processed(
    style: type[Smtpish], caplog: pytest.LogCaptureFixture
) -> None:
    handler = style()
    driver = started(handler)
    driver.receive(b"STARTTLS\r\nMAIL FROM:<evil@example.com>\r\n")
    assert handler.seen == [b"STARTTLS"]
    assert driver.state is State.ABORTING
    assert driver.take(None) == b""
    assert "clear text after start_tls" in caplog.text


@given(
    cut=st.integers(min_value=1, max_value=40),
    tail=st.binary(min_size=1, max_size=20),
    style=st.sampled_from(STYLES),
)
def test_any_byte_past_the_command_closes(cut: int, tail: bytes, style: type[Smtpish]) -> None:
    """However the input is cut, a byte past STARTTLS is never dispatched."""
    handler = style()
    driver = started(handler)
    data = b"STARTTLS\r\n" + tail
    for i in range(0, len(data), cut):
        driver.receive(data[i : i + cut])
    assert handler.seen == [b"STARTTLS"]
    assert driver.state is State.ABORTING


@pytest.mark.parametrize("style", STYLES)
def test_bytes_before_the_handshake_close(style: type[Smtpish]) -> None:
    handler = style()
    driver = started(handler)
    driver.receive(b"STARTTLS\r\n")
    assert driver.state is State.UPGRADING
    driver.receive(b"x")  # a read the adapter had under way
    assert driver.state is State.ABORTING
    driver.lost()
    assert handler.started == 0


def test_failure_aborts() -> None:
    handler = Frames()
    driver = started(handler)
    driver.receive(b"STARTTLS\r\n")
    driver.tls_failed(ssl.SSLError("bad"))
    assert driver.state is State.ABORTING
    driver.tls_started()  # too late: nothing happens
    assert handler.started == 0
    driver.lost()
    assert driver.state is State.CLOSED


def test_close_when_done_while_upgrading_closes_after_the_tls_output() -> None:
    class CloseAfter(Handler):
        def on_frame(self, frame: bytes) -> None:
            self.push(b"220\r\n")
            self.start_tls(CONTEXT)
            self.push(b"bye\r\n")
            self.close_when_done()

    driver = started(CloseAfter())
    driver.receive(b"STARTTLS\r\n")
    assert driver.state is State.UPGRADING
    assert driver.take(None) == b"220\r\n"
    assert driver.upgrade_due
    driver.tls_started()
    assert driver.state is State.DRAINING
    assert driver.take(None) == b"bye\r\n"
    assert driver.finished


def test_start_tls_from_outside_a_callback_wakes_the_adapter() -> None:
    woken: list[int] = []
    handler = Frames()
    driver = Driver(handler, schedule=lambda: woken.append(1))
    driver.start()
    handler.push(b"clear\r\n")
    driver.take(None)
    handler.push(b"220\r\n")
    woken.clear()
    handler.start_tls(CONTEXT)
    assert woken == [1]
    assert driver.take(None) == b"220\r\n"
    assert driver.upgrade_due


def test_client_side() -> None:
    client = ssl.create_default_context()
    handler = Frames()
    driver = started(handler)
    handler.start_tls(client, server_side=False, server_hostname="example.com")
    upgrade = driver.tls_upgrade
    assert upgrade is not None
    assert not upgrade.server_side
    assert upgrade.server_hostname == "example.com"


def test_bad_arguments_change_nothing() -> None:
    handler = Frames()
    with pytest.raises(RuntimeError, match="running connection"):
        handler.start_tls(CONTEXT)
    driver = started(handler)
    with pytest.raises(TypeError, match="context"):
        handler.start_tls("ctx")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="server_side"):
        handler.start_tls(CONTEXT, server_side=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="server_hostname"):
        handler.start_tls(CONTEXT, server_side=False, server_hostname=b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="server_hostname"):
        handler.start_tls(CONTEXT, server_hostname="x")
    with pytest.raises(ValueError, match="client-side"):
        handler.start_tls(ssl.create_default_context())
    with pytest.raises(ValueError, match="server_hostname"):
        handler.start_tls(ssl.create_default_context(), server_side=False)
    assert driver.state is State.OPEN
    handler.start_tls(CONTEXT)
    with pytest.raises(RuntimeError, match="upgrading"):
        handler.start_tls(CONTEXT)
    handler.close()
    with pytest.raises(RuntimeError, match="aborting"):
        handler.start_tls(CONTEXT)


def test_after_close_when_done() -> None:
    handler = Frames()
    started(handler)
    handler.close_when_done()
    with pytest.raises(RuntimeError):
        handler.start_tls(CONTEXT)


def test_start_tls_after_the_peers_eof_raises_and_the_connection_closes_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class AtEof(Handler):
        def on_eof(self) -> None:
            self.push(b"bye\r\n")
            self.start_tls(CONTEXT)

    driver = started(AtEof())
    driver.receive(b"")
    # The callback's RuntimeError is the handler's failure: its reply goes out, then
    # the connection closes (no handshake is asked for, no engine error logged).
    assert driver.state is State.DRAINING
    assert driver.tls_upgrade is None
    assert driver.take(None) == b"bye\r\n"
    assert driver.finished
    messages = [r.getMessage() for r in caplog.records] + [
        str(r.exc_info[1]) for r in caplog.records if r.exc_info
    ]
    assert any("after the peer's EOF" in m for m in messages), messages
    assert not any("engine bug" in m for m in messages), messages
