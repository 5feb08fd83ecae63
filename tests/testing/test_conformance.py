"""The conformance kit of asyncframe.testing, run on each of asyncframe's adapters."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from asyncframe import Handler
from asyncframe.testing import (
    CHECKS,
    AdapterUnderTest,
    Address,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    _conformance,
    check_idle_timeout,
    check_input_limit,
    check_never_reading_peer,
    check_replies_flushed_at_ragged_eof,
    check_starttls_close_notify,
    check_tls_close_notify,
)

ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "trio": TrioAdapter,
}


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_conformance(
    adapter: str, check: Callable[[AdapterUnderTest], None], request: pytest.FixtureRequest
) -> None:
    if (
        adapter == "asyncio"
        and check in (check_tls_close_notify, check_starttls_close_notify)
        and sys.version_info < (3, 11)
    ):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="Python 3.10's asyncio TLS transport closes on the peer's close_notify"
                " without eof_received",
            )
        )
    if adapter == "asyncio" and check is check_replies_flushed_at_ragged_eof:
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="asyncio's TLS transport tells the protocol of a ragged EOF only once"
                " it is shutting down, and drops every write from then on: what on_eof"
                " pushes never leaves",
            )
        )
    check(ADAPTERS[adapter]())


class OptionsIgnored(SelectorsAdapter):
    """A faulty adapter: it drops the options it is given (idle_timeout, high_water...)."""

    def start(self, handler_factory: Callable[[], Handler], **options: Any) -> Address:
        return super().start(handler_factory)


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (check_idle_timeout, "the server did not close the connection"),
        (check_never_reading_peer, "bytes of output were queued for a peer that did not read"),
        (check_input_limit, "its input is not bounded"),
    ],
)
def test_the_kit_fails_an_adapter_that_ignores_its_options(
    check: Callable[[AdapterUnderTest], None], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The idle peer is never closed: fail after 3 s rather than the default deadline.
    monkeypatch.setattr(_conformance, "TIMEOUT", 3.0)
    with pytest.raises(AssertionError, match=message):
        check(OptionsIgnored())
