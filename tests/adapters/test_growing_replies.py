"""A batch whose replies grow stays within the output bound, on every adapter.

An ``on_frames`` server gets, in one write from a peer that does not read, 1,000
small requests and then 1,000 requests for 1 MiB replies. The small replies let
the batches grow to whole reads; the big requests then arrive in such a batch. The
output bound holds per frame inside the batch: the queued output never passes
``high_water`` plus one reply (1 MiB each, at the default ``high_water``), and the
replies come in order.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from functools import partial

import pytest

from asyncframe import Handler
from asyncframe._driver import DEFAULT_HIGH_WATER
from asyncframe.testing import (
    AdapterUnderTest,
    AnyioAdapter,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    TwistedAdapter,
)

from .conftest import TIMEOUT, read_exactly, reset, uvloop_adapter, wait_for, wait_steady

ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "asyncio-uvloop": uvloop_adapter,
    "trio": TrioAdapter,
    "anyio-asyncio": partial(AnyioAdapter, "asyncio"),
    "anyio-trio": partial(AnyioAdapter, "trio"),
    "twisted": TwistedAdapter,
}
BIG = b"B" * (1 << 20)
SMALL = b"small\n"


class Growing(Handler):
    """``s`` → ``small``, ``b`` → 1 MiB, answered a batch at a time; keeps the peak."""

    handlers: list[Growing] = []  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(terminator=b"\n")
        self.peak = 0
        self.answered = 0
        Growing.handlers.append(self)

    def on_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.push(BIG if frame == b"b" else SMALL)
            self.answered += 1
            self.peak = max(self.peak, self.buffered_output)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_replies_that_grow_within_a_batch_stay_bounded(adapter: str) -> None:
    Growing.handlers = []
    under_test = ADAPTERS[adapter]()
    _, port = under_test.start(Growing)
    try:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.settimeout(TIMEOUT)
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"s\n" * 1000 + b"b\n" * 1000)
            assert wait_for(lambda: Growing.handlers and Growing.handlers[0].answered > 1000)
            handler = Growing.handlers[0]
            # The peer reads nothing: the server answers until its output is bounded.
            assert wait_steady(lambda: handler.answered)
            assert handler.peak <= DEFAULT_HIGH_WATER + len(BIG), (
                f"{handler.peak:,} bytes of output queued; the bound is"
                f" {DEFAULT_HIGH_WATER + len(BIG):,}"
            )
            assert 1000 < handler.answered < 2000
            assert read_exactly(sock, 6000 + 3 * len(BIG)) == SMALL * 1000 + BIG * 3  # in order
            reset(sock)
    finally:
        under_test.stop()
