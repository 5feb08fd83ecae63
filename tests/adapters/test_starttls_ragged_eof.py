"""After a STARTTLS upgrade, a ragged EOF (TCP closed without a close_notify) is an
EOF, as over TLS from the start: the server's context for ``start_tls()`` gets
``OP_IGNORE_UNEXPECTED_EOF`` too, so the replies owed to the peer still go out."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from functools import partial

import pytest

from asyncframe.testing import (
    AdapterUnderTest,
    AsyncioAdapter,
    SelectorsAdapter,
    TrioAdapter,
    _conformance,
    serving,
)

from .conftest import uvloop_adapter

ADAPTERS: dict[str, Callable[[], AdapterUnderTest]] = {
    "selectors": SelectorsAdapter,
    "asyncio": AsyncioAdapter,
    "asyncio-uvloop": uvloop_adapter,
    "trio": TrioAdapter,
}


@pytest.mark.parametrize("style", list(_conformance._STYLES))
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_ragged_eof_after_starttls_still_gets_the_reply(adapter: str, style: str) -> None:
    server_ctx, client_ctx = _conformance._tls_contexts()
    server = _conformance._Server(style=style, quiet_eof=True)
    server.tls = server_ctx
    expected = b"ragged\n" + server.reply(262144)
    with serving(ADAPTERS[adapter](), server) as address:
        client = _conformance._upgraded(address, client_ctx)
        with contextlib.closing(client):
            client.sendall(b"ECHO ragged\nBIG 262144\n")
            client.sock.shutdown(socket.SHUT_WR)  # no close_notify
            got = client.read_to_end()
        assert got == expected, f"got {len(got):,} bytes of {len(expected):,}"
        handler = server.handlers[0]
        _conformance._wait_for(partial(handler.saw, "close"), "on_close after a ragged EOF")
        assert handler.events == ["connect", "tls", "eof", "close"], handler.events
