"""CPython's own asynchat test suite, run against asyncframe's drop-in module.

The interpreter's ``test.test_asynchat`` is imported with ``sys.modules["asynchat"]``
pointing at :mod:`asyncframe.adapters.asynchat`, so its client class derives from our
``async_chat``; its test cases (select and poll variants) must all pass.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import unittest
import warnings

import pytest

from asyncframe.adapters import asynchat as ours


def load_suite_module() -> object:
    spec = importlib.util.find_spec("test.test_asynchat")
    if spec is None or spec.loader is None:
        pytest.skip("this interpreter does not ship test.test_asynchat")
    saved = sys.modules.get("asynchat")
    sys.modules["asynchat"] = ours
    try:
        module = importlib.util.module_from_spec(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["asynchat"]
        else:
            sys.modules["asynchat"] = saved
    return module


@pytest.fixture(scope="module")
def suite_module() -> object:
    return load_suite_module()


def test_the_suite_really_uses_our_module(suite_module: object) -> None:
    assert suite_module.asynchat is ours  # type: ignore[attr-defined]
    assert issubclass(suite_module.echo_client, ours.async_chat)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "case",
    ["TestAsynchat", "TestAsynchat_WithPoll", "TestAsynchatMocked", "TestHelperFunctions",
     "TestNotConnected"],
)  # fmt: skip
def test_cpython_asynchat_suite(suite_module: object, case: str) -> None:
    tests = unittest.defaultTestLoader.loadTestsFromTestCase(getattr(suite_module, case))
    assert tests.countTestCases() > 0
    stream = io.StringIO()
    with warnings.catch_warnings():
        # The suite's own helpers (threading cleanup) may warn; they are not ours.
        warnings.simplefilter("default")
        result = unittest.TextTestRunner(stream=stream, verbosity=2).run(tests)
    assert result.wasSuccessful(), stream.getvalue()
    assert result.testsRun == tests.countTestCases()
    assert not result.skipped, result.skipped
