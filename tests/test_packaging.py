"""Packaging: one version everywhere, the command line's --version, the dist checks of CI."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

import asyncframe

ROOT = Path(__file__).resolve().parent.parent
VERSION = asyncframe.__version__


def _check_dist() -> ModuleType:
    """Import ``.ci/check_dist.py`` (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("check_dist", ROOT / ".ci" / "check_dist.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_version_is_written_once() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dynamic = \["version"\]$', pyproject, flags=re.M)
    assert re.search(r"^version\s*=", pyproject, flags=re.M) is None
    assert re.search(r'^path = "asyncframe/__init__.py"$', pyproject, flags=re.M)


def test_ci_and_nox_test_the_pythons_the_classifiers_name() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    classified = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    supported = re.search(r'^SUPPORTED="(.*)"$', ci, flags=re.M)
    assert supported is not None
    assert supported.group(1).split() == classified
    assert f'requires-python = ">={classified[0]}"' in pyproject
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert "PYTHONS = nox.project.python_versions(" in noxfile


def test_installed_metadata_agrees_with_the_package() -> None:
    assert importlib.metadata.version("asyncframe") == VERSION


def test_the_changelog_has_an_entry_for_the_next_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[(Unreleased|{re.escape(VERSION)})\]", changelog, flags=re.M)


def test_python_m_asyncframe_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "asyncframe", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == f"asyncframe {VERSION}\n"


def test_the_installed_script_reports_the_version() -> None:
    script = Path(sys.executable).with_name("asyncframe")
    assert script.exists(), "install the project (pip install -e .) to get the script"
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True).stdout
    assert out == f"asyncframe {VERSION}\n"


def _wheel(path: Path, names: list[str], *, license_file: bool = True) -> Path:
    """Write a minimal wheel at *path* holding *names* plus its metadata."""
    dist_info = f"asyncframe-{VERSION}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"")
        archive.writestr(
            f"{dist_info}/METADATA",
            f"Metadata-Version: 2.4\nName: asyncframe\nVersion: {VERSION}\n"
            "License-Expression: MIT\n",
        )
        if license_file:
            archive.writestr(f"{dist_info}/licenses/LICENSE", "MIT License\n")
    return path


@pytest.fixture
def check_dist() -> ModuleType:
    return _check_dist()


def test_wheel_check_accepts_the_package_alone(check_dist: ModuleType, tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w.whl", ["asyncframe/__init__.py", "asyncframe/py.typed"])
    assert check_dist.wheel_problems(wheel, VERSION) == []


def test_wheel_check_rejects_benchmarks_and_a_missing_license(
    check_dist: ModuleType, tmp_path: Path
) -> None:
    names = ["asyncframe/__init__.py", "asyncframe/py.typed", "asyncframe/_cli/bench.py"]
    wheel = _wheel(tmp_path / "w.whl", [*names, "benchmarks/echo.py"], license_file=False)
    assert check_dist.wheel_problems(wheel, VERSION) == [
        "benchmarks/echo.py: neither the package nor its metadata",
        "asyncframe/_cli/bench.py: benchmark code in the wheel",
        "benchmarks/echo.py: benchmark code in the wheel",
        "the license file is missing",
    ]


def test_sdist_check_names_what_is_missing(check_dist: ModuleType, tmp_path: Path) -> None:
    sdist = tmp_path / "s.tar.gz"
    shipped = [name for name in check_dist.SDIST_REQUIRED if name != ".ci/run"]
    with tarfile.open(sdist, "w:gz") as archive:
        for name in [*shipped, "docs/_build/html/index.html"]:
            info = tarfile.TarInfo(f"asyncframe-{VERSION}/{name}")
            archive.addfile(info, io.BytesIO(b""))
    assert check_dist.sdist_problems(sdist, VERSION) == [
        ".ci/run: missing",
        "docs/_build/html/index.html: build output",
    ]
