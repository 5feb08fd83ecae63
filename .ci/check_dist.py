"""Check the built sdist and wheel: what each must hold, and what the wheel must not.

Usage: ``python .ci/check_dist.py DIST_DIR VERSION`` after ``python -m build``. Prints one
line per archive and exits 1 with the list of problems if any.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

#: Files the sdist must ship so that its own tests, docs and benchmarks run from it.
SDIST_REQUIRED = (
    ".ci/run",
    ".ci/check_dist.py",
    "CHANGELOG.md",
    "LICENSE",
    "README.md",
    "noxfile.py",
    "pyproject.toml",
    "asyncframe/__init__.py",
    "benchmarks/__main__.py",
    "docs/conf.py",
    "docs/index.rst",
    "examples/__init__.py",
    "examples/_run.py",
    "examples/chat_client.py",
    "examples/json_chat.py",
    "examples/memcached_server.py",
    "examples/record_echo.py",
    "examples/redis_server.py",
    "examples/smtp_receiver.py",
    "examples/tls_servers.py",
    "tests/conftest.py",
)


def wheel_problems(wheel: Path, version: str) -> list[str]:
    """Return what is wrong with *wheel*: foreign files, benchmarks, a missing license."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = f"asyncframe-{version}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode("utf-8")
    problems = [
        f"{name}: neither the package nor its metadata"
        for name in names
        if not name.startswith(("asyncframe/", f"{dist_info}/"))
    ]
    problems += [
        f"{name}: benchmark code in the wheel"
        for name in names
        if any(part.startswith("bench") for part in name.split("/"))
    ]
    if f"{dist_info}/licenses/LICENSE" not in names:
        problems.append("the license file is missing")
    if "asyncframe/py.typed" not in names:
        problems.append("asyncframe/py.typed is missing")
    if f"Version: {version}\n" not in metadata:
        problems.append(f"METADATA does not give version {version}")
    if "License-Expression: MIT\n" not in metadata:
        problems.append("METADATA does not give License-Expression: MIT")
    return problems


def sdist_problems(sdist: Path, version: str) -> list[str]:
    """Return which of the files the sdist must ship are missing, and any build output."""
    top = f"asyncframe-{version}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(top) for name in archive.getnames()}
    problems = [f"{name}: missing" for name in SDIST_REQUIRED if name not in names]
    problems += [f"{name}: build output" for name in names if name.startswith("docs/_build/")]
    return problems


def main(argv: list[str]) -> int:
    """Check ``DIST_DIR``'s sdist and wheel of ``VERSION``; return the exit status."""
    dist, version = Path(argv[0]), argv[1]
    checks = {
        dist / f"asyncframe-{version}-py3-none-any.whl": wheel_problems,
        dist / f"asyncframe-{version}.tar.gz": sdist_problems,
    }
    failed = False
    for path, check in checks.items():
        problems = [f"{path.name} not built"] if not path.exists() else check(path, version)
        print(f"{path.name}: {'; '.join(problems) or 'ok'}")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
