"""The worked example of docs/testing.rst runs here, as it is in the docs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
sys.path.insert(0, str(EXAMPLES))

from fuzz_smtp_like import make_property, smallest_breaking_chunking  # noqa: E402
from smtp_like import SESSION, BuggyMiniSMTP, MiniSMTP  # noqa: E402
from stateful_smtp import SMTPSession  # noqa: E402

from asyncframe.testing import drive_handler  # noqa: E402


def test_the_session_works_in_one_piece() -> None:
    server = MiniSMTP()
    transcript = drive_handler(server, [SESSION])
    assert transcript.output.count(b"\r\n") == 7
    assert transcript.output.endswith(b"221 bye\r\n")
    assert transcript.closed
    assert server.delivered == [
        (
            b"<alice@example.org>",
            [b"<bob@example.org>"],
            b"Subject: hi\r\n\r\n.a line that starts with a dot\r\nbye",
        )
    ]


def test_an_empty_message_then_quit() -> None:
    # DATA followed at once by the dot line is an empty message, and the QUIT
    # after it is a command, whatever the chunking.
    session = (
        b"HELO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n.\r\nQUIT\r\n"
    )
    for chunks in ([session], [bytes([byte]) for byte in session]):
        server = MiniSMTP()
        transcript = drive_handler(server, chunks)
        assert server.delivered == [(b"<a@example.org>", [b"<b@example.org>"], b"")]
        assert transcript.output.endswith(
            b"354 end with <CRLF>.<CRLF>\r\n250 queued\r\n221 bye\r\n"
        )
        assert transcript.closed


def test_the_buggy_server_also_passes_the_one_piece_test() -> None:
    # Which is why the bug survives ordinary tests.
    assert (
        drive_handler(BuggyMiniSMTP(), [SESSION]).output
        == drive_handler(MiniSMTP(), [SESSION]).output
    )


def test_the_correct_server_holds_the_property() -> None:
    make_property(MiniSMTP)()


def test_fuzzing_finds_the_planted_bug() -> None:
    with pytest.raises(AssertionError):
        make_property(BuggyMiniSMTP)()
    chunks = smallest_breaking_chunking(BuggyMiniSMTP)
    assert b"".join(chunks) == SESSION
    assert len(chunks) == 2  # shrunk to a single cut that splits one line


def test_the_stateful_recipe_runs() -> None:
    from hypothesis import settings
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        SMTPSession, settings=settings(max_examples=60, stateful_step_count=15, deadline=None)
    )


def test_the_conformance_example_checks_an_adapter() -> None:
    import asyncio

    from conformance_my_loop import MyLoopAdapter, test_my_adapter

    from asyncframe.testing import check_echo_under_awkward_chunkings, check_half_close_with_tail

    # The example's own test function, on two of its checks (the conformance run
    # covers every check on every adapter).
    test_my_adapter(check_echo_under_awkward_chunkings)
    check_half_close_with_tail(MyLoopAdapter(asyncio.new_event_loop))
