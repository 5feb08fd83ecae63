"""The conformance kit of asyncframe.testing, run on each of asyncframe's adapters."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from asyncframe.testing import (
    CHECKS,
    AdapterUnderTest,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
)

ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "trio": TrioAdapter,
}


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_conformance(adapter: str, check: Callable[[AdapterUnderTest], None]) -> None:
    check(ADAPTERS[adapter]())
