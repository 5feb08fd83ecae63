"""The package layout: a pure core that imports no I/O, and a public API without privates."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import asyncframe

PACKAGE = Path(asyncframe.__file__).parent
IO_MODULES = {
    "socket",
    "selectors",
    "select",
    "asyncio",
    "trio",
    "anyio",
    "twisted",
    "ssl",
    "asyncore",
    "asynchat",
}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


#: The pure core, by name: these import no I/O module and never the adapters or the CLI.
CORE = {
    "__init__.py",
    "_batch.py",
    "_channel.py",
    "_driver.py",
    "_errors.py",
    "_events.py",
    "_framing.py",
    "_handler.py",
    "_inbound.py",
    "_producers.py",
    "_readers.py",
    "_receivebuffer.py",
    "_records.py",
    "_terminator.py",
}
#: Everything else in the package, and why it is not core.
NOT_CORE = {
    "__main__.py",  # runs the command line
}
#: testing drives adapters over real sockets in its conformance checks.
NOT_CORE_PACKAGES = {"adapters", "_cli", "testing"}


def _asyncframe_imports(path: Path) -> set[str]:
    """The asyncframe subpackages and modules *path* imports, relative or absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                names.add(module.split(".")[0])
                names.update(alias.name for alias in node.names if not module)
            elif module.startswith("asyncframe."):
                names.add(module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(
                alias.name.split(".")[1]
                for alias in node.names
                if alias.name.startswith("asyncframe.")
            )
    return names


def test_every_module_is_classified() -> None:
    top = {p.name for p in PACKAGE.glob("*.py")}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert top == CORE | NOT_CORE
    assert packages == NOT_CORE_PACKAGES


def test_core_modules_import_no_io_module() -> None:
    offenders = {name: sorted(_imported_modules(PACKAGE / name) & IO_MODULES) for name in CORE}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_core_modules_never_import_adapters_cli_or_testing() -> None:
    forbidden = NOT_CORE_PACKAGES | {"testing", "__main__"}
    offenders = {name: sorted(_asyncframe_imports(PACKAGE / name) & forbidden) for name in CORE}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_the_core_loads_no_io_module() -> None:
    # Measured past attrs, the one dependency: on Python 3.10 attrs imports platform,
    # which imports subprocess and so selectors; that is attrs's, not the core's (there
    # this check cannot see those two; the static test above still does).
    code = (
        "import sys, attr\n"
        "before = set(sys.modules)\n"
        "import asyncframe\n"
        f"loaded = sorted(m for m in {sorted(IO_MODULES)!r} if m in set(sys.modules) - before)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_public_api_is_exactly_all_and_has_no_private_names() -> None:
    assert all(not name.startswith("_") for name in asyncframe.__all__)
    assert len(set(asyncframe.__all__)) == len(asyncframe.__all__)
    for name in asyncframe.__all__:
        assert hasattr(asyncframe, name), name
    documented_names = {
        "Channel", "Handler", "Data", "Terminator", "ConnectionClosed", "NEED_DATA",
        "ProtocolError", "FrameTooLong", "fifo", "simple_producer", "find_prefix_at_end",
    }  # fmt: skip
    assert documented_names <= set(asyncframe.__all__)


def test_public_objects_have_docstrings() -> None:
    objects = {name: getattr(asyncframe, name) for name in asyncframe.__all__}
    documented = {
        name: obj
        for name, obj in objects.items()
        if inspect.isclass(obj) or inspect.isfunction(obj)
    }
    assert "Channel" in documented
    missing = [name for name, obj in documented.items() if not obj.__doc__]
    assert missing == []
