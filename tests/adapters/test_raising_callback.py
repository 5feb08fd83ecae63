"""A callback that raises: the replies pushed before it are sent, then the connection
closes; the same on every adapter, and the server goes on serving."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import pytest

from asyncframe import Handler
from asyncframe.testing import (
    AdapterUnderTest,
    AnyioAdapter,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    TwistedAdapter,
    serving,
)

from .conftest import connect, read_until_eof, uvloop_adapter

ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "asyncio-uvloop": uvloop_adapter,
    "trio": TrioAdapter,
    "anyio-asyncio": partial(AnyioAdapter, "asyncio"),
    "anyio-trio": partial(AnyioAdapter, "trio"),
    "twisted": TwistedAdapter,
}


class Boom(Exception):
    pass


class EchoUntilBoom(Handler):
    """Echoes each line; ``boom`` raises; with *greet*, ``on_connect`` pushes a
    greeting and then raises."""

    def __init__(self, greet: bool = False) -> None:
        super().__init__(terminator=b"\r\n")
        self.greet = greet

    def on_connect(self) -> None:
        if self.greet:
            self.push(b"hello\r\n")
            raise Boom("on_connect")

    def on_frame(self, frame: bytes) -> None:
        if frame == b"boom":
            self.push(b"half a reply")
            raise Boom("boom")
        self.push(frame + b"\r\n")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_replies_before_the_failure_are_sent(
    adapter: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncframe")
    with serving(ADAPTERS[adapter](), EchoUntilBoom) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"one\r\nboom\r\ntwo\r\n")
            # Everything pushed before the exception, its own callback's push
            # included, then the close; "two" is never dispatched.
            assert read_until_eof(sock) == b"one\r\nhalf a reply"
        with connect(port) as sock:  # the server goes on
            sock.sendall(b"again\r\n")
            assert sock.recv(100) == b"again\r\n"
    assert any("raised; closing its connection" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_greeting_before_on_connect_raised_is_sent(
    adapter: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncframe")
    factory = lambda: EchoUntilBoom(greet=True)  # noqa: E731
    with serving(ADAPTERS[adapter](), factory) as (_, port), connect(port) as sock:
        assert read_until_eof(sock) == b"hello\r\n"


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_factory_that_returns_no_handler_drops_that_connection_only(
    adapter: str, caplog: pytest.LogCaptureFixture
) -> None:
    made: list[object] = [None, NoSuper()]  # the first two connections get these

    def factory() -> Handler:
        return made.pop(0) if made else EchoUntilBoom()  # type: ignore[return-value]

    with serving(ADAPTERS[adapter](), factory) as (_, port):
        for _ in range(2):
            with connect(port) as sock:
                assert read_until_eof(sock) == b""
        with connect(port) as sock:
            sock.sendall(b"served\r\n")
            assert sock.recv(100) == b"served\r\n"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("returned an unusable handler" in m for m in messages) == 2
    assert any("did not call super().__init__()" in m for m in messages)


class NoSuper(Handler):
    def __init__(self) -> None:  # no super().__init__()
        pass
