"""The README's example runs, and its commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_examples_run() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_ci_runs_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    shell = re.search(r"```sh\n(.*?)```", readme, flags=re.S)
    assert shell is not None
    commands = [
        line for line in shell.group(1).splitlines() if line.startswith(("python", ".venv"))
    ]
    assert commands, "the README quick start lists no commands"
    for command in commands:
        assert command in ci.splitlines(), f"CI does not run {command!r}"
