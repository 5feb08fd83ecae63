"""No core module reads or writes another object's private attributes.

The core (``asyncframe/_*.py``) is one state machine split into objects that talk
through public, documented methods: ``x._name`` is allowed only where ``x`` is
``self`` or ``cls``. The walk is over the AST, so strings and comments do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = sorted((Path(__file__).parent.parent / "asyncframe").glob("_*.py"))


def private_accesses(source: str) -> list[str]:
    """Each ``x._name`` in *source* whose ``x`` is not ``self`` or ``cls``, with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue  # public, or a dunder (obj.__class__, it.__length_hint__)
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_core_modules_are_found() -> None:
    names = {path.name for path in CORE}
    assert {"_driver.py", "_handler.py", "_channel.py", "_producers.py"} <= names


@pytest.mark.parametrize("path", CORE, ids=lambda path: path.name)
def test_no_private_attribute_of_another_object(path: Path) -> None:
    assert private_accesses(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("self._out.take(1)", []),
        ("cls._registry", []),
        ("handler._wakeup = f", ["line 1: handler._wakeup"]),
        ("self.channel._out", ["line 1: self.channel._out"]),
        ("x = obj.__class__", []),
        ("'a._b'  # c._d", []),
    ],
)
def test_the_walk_finds_what_it_must(source: str, expected: list[str]) -> None:
    assert private_accesses(source) == expected
