"""Run an example's handler on each adapter, over loopback, for a client to talk to."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from asyncframe import Handler
from asyncframe.testing import (
    AdapterUnderTest,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    serving,
)

ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "trio": TrioAdapter,
}

Serve = Callable[[Callable[[], Handler]], int]

TIMEOUT = 20.0


@pytest.fixture(params=list(ADAPTERS))
def serve(request: pytest.FixtureRequest) -> Iterator[Serve]:
    """``serve(factory)`` starts *factory* on the adapter of this run and returns the
    port; after the test, once every connection it served has closed (the clients
    have left), every server started is stopped."""
    stops: list[Callable[[], None]] = []
    made: list[Handler] = []
    closed: list[Handler] = []

    def tracked(factory: Callable[[], Handler]) -> Callable[[], Handler]:
        def make() -> Handler:
            handler = factory()
            on_close = handler.on_close

            def record() -> None:
                closed.append(handler)
                on_close()

            handler.on_close = record  # type: ignore[method-assign]
            made.append(handler)
            return handler

        return make

    def start(factory: Callable[[], Handler]) -> int:
        context = serving(ADAPTERS[request.param](), tracked(factory))
        _, port = context.__enter__()
        stops.append(lambda: context.__exit__(None, None, None))
        return port

    yield start
    # Stopping a server does not close its connections on every adapter and Python
    # (asyncio before 3.13): wait for the clients' ends to be handled first.
    deadline = time.monotonic() + TIMEOUT
    while len(closed) < len(made) and time.monotonic() < deadline:
        time.sleep(0.01)
    for stop in reversed(stops):
        stop()
    assert len(closed) == len(made), f"{len(made) - len(closed)} connections still open"
