"""The README's example runs, and its commands are the ones CI runs, as a new user would."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def _quick_start_commands() -> list[str]:
    """The commands of the README's quick start (its first ``sh`` block), after the clone."""
    shell = re.search(r"```sh\n(.*?)```", README, flags=re.S)
    assert shell is not None, "the README has no quick start"
    return [line for line in shell.group(1).splitlines() if line.startswith(("python", ".venv"))]


def test_readme_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_ci_runs_the_readme_commands_in_order() -> None:
    commands = _quick_start_commands()
    assert commands, "the README quick start lists no commands"
    missing = [command for command in commands if command not in CI]
    assert missing == [], f"CI does not run {missing}"
    assert [line for line in CI if line in commands] == commands


def test_the_readme_ends_its_set_up_with_the_test_command() -> None:
    assert _quick_start_commands()[-1] == ".venv/bin/python -m pytest"


def test_ci_runs_the_readme_test_command_before_installing_anything_else() -> None:
    # The README's test command must pass on exactly what the README installs.
    commands = _quick_start_commands()
    test_line = CI.index(commands[-1])
    installs = [n for n, line in enumerate(CI) if " install " in line and line not in commands]
    assert installs, "CI installs no maintainer tools"
    assert min(installs) > test_line


def test_the_docs_build_ci_runs_is_strict() -> None:
    builds = [line for line in CI if "sphinx-build" in line]
    assert builds
    assert all(" -n " in line and " -W " in line for line in builds)
