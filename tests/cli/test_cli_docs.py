"""docs/cli.rst shows the command line as it is: each console block is run and compared."""

from __future__ import annotations

import argparse
import re
import signal
import socket
from pathlib import Path

from asyncframe._cli import build_parser

from .test_cli import Client, run_cli, server, stop

CLI_RST = Path(__file__).parents[2] / "docs" / "cli.rst"
TIMING = re.compile(r"\(\d+\.\d ms\)")


def console_blocks(command: str) -> list[list[str]]:
    """The output lines of each ``console`` block of cli.rst that runs *command*."""
    blocks: list[list[str]] = []
    for part in CLI_RST.read_text().split(".. code-block:: console\n\n")[1:]:
        lines = []
        for line in part.splitlines():
            if not line.startswith("   "):
                break
            lines.append(line[3:])
        if lines[0] == command:
            blocks.append(lines[1:])
    return blocks


def test_the_demo_block_is_what_demo_prints() -> None:
    [shown] = console_blocks("$ python -m asyncframe demo")
    result = run_cli("demo")
    assert result.returncode == 0
    printed = [TIMING.sub("(T)", line) for line in result.stdout.splitlines()]
    # The page elides the repeated conversations with "..."; every line it shows is
    # printed, in the same order.
    position = 0
    for line in (TIMING.sub("(T)", line) for line in shown if line.strip() != "..."):
        assert line in printed[position:], line
        position = printed.index(line, position) + 1


def test_the_serve_blocks_are_what_serve_says() -> None:
    banner = console_blocks("$ python -m asyncframe serve --port 7777")[0][0]
    [session] = console_blocks("$ nc 127.0.0.1 7777")
    with server("selectors") as (proc, port, printed):
        guest1 = Client(port)
        guest1.line()
        guest2 = Client(port)
        seen = [guest2.line().decode()]
        for typed in ("/who", "hi there"):
            guest2.send(typed.encode() + b"\n")
            seen += [typed, guest2.line().decode()]
        guest1.send(b"hello from A\n")
        seen.append(guest2.line().decode())
        guest2.send(b"/quit\n")
        seen += ["/quit", guest2.line().decode()]
        guest1.close()
        guest2.close()
        status, out, _ = stop(proc, signal.SIGINT)
    assert printed == banner.replace("7777", str(port))
    assert seen == session
    assert (status, out.strip()) == (0, "stopped")


def test_the_address_in_use_block_is_what_serve_says() -> None:
    [shown] = console_blocks("$ python -m asyncframe serve --port 7777")[1:]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), timeout=30)
    assert result.returncode == 1
    assert [result.stderr.rstrip("\n")] == [line.replace("7777", str(port)) for line in shown]


def test_every_option_is_documented_and_every_documented_option_exists() -> None:
    parser = build_parser("python -m asyncframe")
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    real = {
        option
        for sub in commands.choices.values()
        for action in sub._actions
        for option in action.option_strings
        if option.startswith("--") and action.help is not argparse.SUPPRESS
    }
    # The page's last section is about the benchmarks' own command line.
    text = CLI_RST.read_text().split("The benchmarks\n")[0]
    assert real == set(re.findall(r"``(--[a-z-]+)", text))
