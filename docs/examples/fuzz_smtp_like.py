"""Fuzzing MiniSMTP with asyncframe.testing: the reply must not depend on the chunking."""

from __future__ import annotations

from hypothesis import find, given, settings
from smtp_like import SESSION, MiniSMTP

from asyncframe.testing import chunkings, drive_handler


def run_session(server_class: type[MiniSMTP], chunks: list[bytes]) -> tuple[bytes, object]:
    """Drive a fresh server with *chunks*; return what it sent and what it delivered."""
    server = server_class()
    transcript = drive_handler(server, chunks)
    return transcript.output, server.delivered


def make_property(server_class: type[MiniSMTP]):  # type: ignore[no-untyped-def]
    """The property: any chunking of SESSION gives the same replies and mail as one write."""
    expected = run_session(server_class, [SESSION])

    @settings(max_examples=200, deadline=None)
    @given(chunks=chunkings(SESSION))
    def same_whatever_the_chunking(chunks: list[bytes]) -> None:
        assert run_session(server_class, chunks) == expected

    return same_whatever_the_chunking


def smallest_breaking_chunking(server_class: type[MiniSMTP]) -> list[bytes]:
    """Let hypothesis search for (and shrink) a chunking that changes the outcome."""
    expected = run_session(server_class, [SESSION])
    return find(  # type: ignore[no-any-return]
        chunkings(SESSION),
        lambda chunks: run_session(server_class, chunks) != expected,
        settings=settings(max_examples=1000, deadline=None, database=None),
    )
