"""Sessions for every supported Python: ``nox -l`` lists them, ``nox -s tests-3.12`` runs one.

``nox`` alone runs the test suite on each supported interpreter found on ``PATH`` (a
missing one is skipped with a message) and the checks; ``nox -s bench`` runs the quick
benchmarks. Arguments after ``--`` go to the tool a session runs, for example
``nox -s tests-3.13 -- -m "not slow" -x``.
"""

from __future__ import annotations

import nox

# The supported Pythons are the ones pyproject.toml's classifiers name.
PYTHONS = nox.project.python_versions(nox.project.load_toml("pyproject.toml"))
SOURCES = ["asyncframe", "tests", "benchmarks", "examples", "fuzz", "docs", "noxfile.py", ".ci"]

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (and the docs' examples) on one interpreter."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, the benchmarks and the examples (with trio and
    hypothesis)."""
    session.install("-e", ".[test]", "mypy")
    session.run("mypy", "--strict", "asyncframe", "benchmarks", "examples")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML docs; a broken reference or any warning fails."""
    session.install("-e", ".[test,docs]")
    session.run(
        "sphinx-build", "-n", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks with their peers (quick run unless arguments say otherwise)."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *(session.posargs or ["--quick"]))
