"""Run asyncframe's adapter conformance kit against an adapter of your own.

Here "your adapter" is asyncframe's asyncio adapter on an event loop you choose
(uvloop's, say): the same checks show whether it holds on that loop. Run it with
pytest: one test per check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from asyncframe import Handler
from asyncframe.adapters.asyncio import serve
from asyncframe.testing import (
    CHECKS,
    AdapterUnderTest,
    Address,
    ThreadedAdapter,
    check_replies_flushed_at_ragged_eof,
)

# A check your adapter is known to fail, with the reason: it still runs, and the
# run fails if it ever starts to pass (then remove it from here).
KNOWN_FAILURES = {
    check_replies_flushed_at_ragged_eof: "asyncio's TLS transport drops the writes that"
    " follow a ragged EOF",
}


class MyLoopAdapter(ThreadedAdapter):
    """asyncframe's asyncio ``serve()`` on the event loops *loop_factory* makes."""

    def __init__(self, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        super().__init__(host="127.0.0.1")
        self.loop_factory = loop_factory

    def run_server(
        self,
        handler_factory: Callable[[], Handler],
        options: dict[str, Any],
        ready: Callable[[Address, Callable[[], None]], None],
    ) -> None:
        # Runs in the kit's server thread: serve until the kit calls stop().
        loop = self.loop_factory()
        done = asyncio.Event()

        # A Unix socket (path=) or a listening socket (sock=) replaces host and port.
        where = {} if {"path", "sock"} & options.keys() else {"host": self.host, "port": 0}

        async def main() -> None:
            server = await serve(handler_factory, **where, **options)
            ready(server.sockets[0].getsockname(), lambda: loop.call_soon_threadsafe(done.set))
            async with server:
                await done.wait()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(
            check,
            id=check.__name__,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[check])]
            if check in KNOWN_FAILURES
            else [],
        )
        for check in CHECKS
    ],
)
def test_my_adapter(check: Callable[[AdapterUnderTest], None]) -> None:
    check(MyLoopAdapter(asyncio.new_event_loop))
