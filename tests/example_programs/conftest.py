"""Run an example's handler on each adapter, over loopback, for a client to talk to."""

from __future__ import annotations

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


@pytest.fixture(params=list(ADAPTERS))
def serve(request: pytest.FixtureRequest) -> Iterator[Serve]:
    """``serve(factory)`` starts *factory* on the adapter of this run and returns the
    port; every server started is stopped after the test."""
    stops: list[Callable[[], None]] = []

    def start(factory: Callable[[], Handler]) -> int:
        context = serving(ADAPTERS[request.param](), factory)
        _, port = context.__enter__()
        stops.append(lambda: context.__exit__(None, None, None))
        return port

    yield start
    for stop in reversed(stops):
        stop()
