"""CPython's own users of asynchat, run against asyncframe's drop-in module.

``test_asynchat``, ``test_smtpd``, ``test_smtplib``, ``test_ftplib`` and
``test_poplib`` build their servers on ``asynchat.async_chat``. Each runs in a
subprocess (:mod:`cpython_runner`), once with ``sys.modules["asynchat"]`` pointing at
the drop-in and once on the interpreter's own module, all at the same time; every
test that passes on the interpreter's module must pass on the drop-in, and the
drop-in must really have served (its ``async_chat`` was instantiated). A suite that
hangs is killed and fails. Interpreters without these test modules skip them.

From Python 3.12, ``asynchat`` lives on as the ``pyasynchat`` backport, whose test
suite (a copy of ``test_asynchat``) ships in its sdist only: point the environment
variable ``ASYNCFRAME_ASYNCHAT_SUITE`` at that ``tests/test_asynchat.py`` to run it
here as well, against the drop-in and against ``pyasynchat``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUITES = ["test_asynchat", "test_smtpd", "test_smtplib", "test_ftplib", "test_poplib"]
EXTERNAL = os.environ.get("ASYNCFRAME_ASYNCHAT_SUITE", "")
if EXTERNAL:
    SUITES.append(EXTERNAL)
RUNNER = Path(__file__).with_name("cpython_runner.py")
# A suite still running after this many seconds is taken to hang (the slowest
# takes about 10 s on the interpreter's own module).
HANG = 100


def available(suite: str) -> bool:
    if suite.endswith(".py"):
        return Path(suite).is_file()
    try:
        return importlib.util.find_spec(f"test.{suite}") is not None
    except ImportError:
        return False


class Run:
    """One suite running in a subprocess on one asynchat module."""

    def __init__(self, suite: str, which: str) -> None:
        self.suite = suite
        self.which = which
        self.process = subprocess.Popen(
            [sys.executable, str(RUNNER), suite, which],
            cwd=RUNNER.parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def report(self) -> dict[str, Any]:
        try:
            out, err = self.process.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            pytest.fail(f"{self.suite} on {self.which} hangs:\n{err[-3000:]}")
        lines = out.strip().splitlines()
        assert self.process.returncode == 0, err[-3000:]
        assert lines, err[-3000:]
        report: dict[str, Any] = json.loads(lines[-1])
        return report


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[tuple[str, str], Run]]:
    started = {
        (suite, which): Run(suite, which)
        for suite in SUITES
        if available(suite)
        for which in ("ours", "stdlib")
    }
    yield started
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.communicate()


@pytest.mark.parametrize("suite", SUITES)
def test_cpython_suite_passes_on_the_drop_in(suite: str, runs: dict[tuple[str, str], Run]) -> None:
    if not available(suite):
        pytest.skip(f"no {suite}: not in this interpreter's test package (it left with asynchat)")
    ours = runs[suite, "ours"].report()
    theirs = runs[suite, "stdlib"].report()
    assert ours["asynchat_module"] == "asyncframe.adapters.asynchat"
    assert ours["chats_created"] > 0, "the suite never built an async_chat of the drop-in"
    assert theirs["chats_created"] == 0
    assert theirs["passed"] > 0
    # Every test that passes on the interpreter's module passes on the drop-in.
    assert set(ours["not_passed"]) <= set(theirs["not_passed"]), ours["problems"]
    assert (ours["run"], ours["passed"], ours["skipped"]) == (
        theirs["run"],
        theirs["passed"],
        theirs["skipped"],
    )
