"""Run one of CPython's test modules that use ``asynchat``, in this process, and report.

``python tests/asynchat_dropin/cpython_runner.py MODULE ours|stdlib`` imports
``test.MODULE`` (``test_asynchat``, ``test_smtpd``, ``test_smtplib``, ``test_ftplib``,
``test_poplib``), or the test file at the path MODULE, and runs its tests. With
``ours``, :mod:`asyncframe.adapters.asynchat` stands in for ``asynchat`` before the
tests (or their ``smtpd``) import it: as ``sys.modules["asynchat"]`` and, where
Python 3.12+ keeps private copies for its tests, as ``test.support.asynchat`` (with
``test.support.asyncore`` the ``asyncore`` the drop-in runs on, so that the servers
share one socket map). Every ``async_chat`` of the drop-in the suite creates is
counted, so the caller can check that the suite's servers really ran on it. The
last line of output is a JSON report.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import unittest
import warnings
from typing import Any


def main(module_name: str, which: str) -> dict[str, Any]:
    created = {"ours": 0}
    if which == "ours":
        from asyncframe.adapters import asynchat as ours

        original_init = ours.async_chat.__init__

        def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
            created["ours"] += 1
            original_init(self, *args, **kwargs)

        ours.async_chat.__init__ = counting_init  # type: ignore[method-assign]
        sys.modules["asynchat"] = ours
        if importlib.util.find_spec("test.support.asynchat") is not None:
            sys.modules["test.support.asynchat"] = ours
            sys.modules["test.support.asyncore"] = ours.asyncore
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if module_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location("asynchat_suite", module_name)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(f"test.{module_name}")
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2)
    result = runner.run(suite)
    chat = sys.modules.get("test.support.asynchat", sys.modules.get("asynchat"))
    problems = [(test.id(), text) for test, text in result.failures + result.errors]
    return {
        "module": module_name,
        "which": which,
        "run": result.testsRun,
        "failures": len(result.failures),
        "errors": len(result.errors),
        "skipped": len(result.skipped),
        "expected_failures": len(result.expectedFailures),
        "unexpected_successes": len(result.unexpectedSuccesses),
        "passed": result.testsRun
        - len(result.failures)
        - len(result.errors)
        - len(result.skipped)
        - len(result.expectedFailures)
        - len(result.unexpectedSuccesses),
        "asynchat_module": getattr(chat, "__name__", None),
        "chats_created": created["ours"],
        "not_passed": sorted(test_id for test_id, _ in problems),
        "problems": problems[:20],
    }


if __name__ == "__main__":
    report = main(sys.argv[1], sys.argv[2])
    sys.stdout.write("\n" + json.dumps(report) + "\n")
