"""The ``asyncframe`` command line: ``demo`` and ``serve``.

It runs the adapters, so the core modules never import it; ``asyncframe/__main__.py``
only calls :func:`main`. The benchmarks live in the repository (``python -m benchmarks``
from a checkout); ``bench`` here only says so.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from asyncframe import __version__

__all__ = ["main"]

ADAPTERS = ("selectors", "asyncio", "trio", "asynchat")

BENCH_POINTER = (
    "The benchmarks are not installed with asyncframe: they live in its repository. "
    "From a checkout, run: pip install -e '.[bench]' && python -m benchmarks --help"
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line that points at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _terminator(text: str) -> bytes:
    """Parse ``--terminator``: Python-style escapes (``\\r\\n``, ``\\x00``) allowed."""
    try:
        value = text.encode("latin-1").decode("unicode_escape").encode("latin-1")
    except UnicodeError:
        raise argparse.ArgumentTypeError(
            f"invalid terminator {text!r}: use ASCII text and escapes such as \\r\\n or \\x00"
        ) from None
    if not value:
        raise argparse.ArgumentTypeError("the terminator must not be empty")
    return value


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use 0-65535 (0 picks a free one)")
    return port


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if not 1 <= workers <= 256:
        raise argparse.ArgumentTypeError(f"invalid worker count {text!r}: use 1-256")
    return workers


def _names(kind: str, choices: Callable[[], Sequence[str]]) -> Callable[[str], list[str]]:
    """Return an argparse type for a comma-separated list of *kind* names from ``choices()``.

    *choices* is called only when the option is given, so it may import lazily.
    """

    def parse(text: str) -> list[str]:
        allowed = choices()
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {', '.join(unknown) or repr(text)}:"
                f" choose from {', '.join(allowed)}"
            )
        return names

    return parse


def importable(module: str) -> bool:
    """Return whether *module* (an optional dependency) can be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Return the parser of the command line named *prog*."""
    parser = _Parser(
        prog=prog,
        description="asyncframe: a sans-IO state machine for terminator-framed protocols.",
        epilog=f"Run '{prog} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"asyncframe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="run a small protocol over loopback on every adapter",
        description="Run one small chat protocol over loopback (127.0.0.1) on every available"
        " adapter, print each conversation and a one-line verdict per adapter. The exit"
        " status is 1 if any adapter fails.",
    )
    demo.add_argument(
        "--adapter",
        type=_names("adapter", lambda: ADAPTERS),
        default=list(ADAPTERS),
        metavar="NAMES",
        help=f"comma-separated adapters to run (default: {','.join(ADAPTERS)})",
    )

    serve = commands.add_parser(
        "serve",
        help="run a line-based chat/echo server to talk to with nc or telnet",
        description="Run a line-based chat server: each line is echoed to its sender and"
        " relayed to the other clients; /who lists them, /quit leaves. A client that stops"
        " reading is dropped once 1 MiB of output waits for it. Talk to it with"
        " 'nc HOST PORT'. Ctrl-C stops it.",
    )
    serve.add_argument(
        "--adapter",
        choices=ADAPTERS,
        default="selectors",
        help="the adapter that runs the server (default: selectors)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=7777, help="port to bind (default: 7777; 0 picks a free one)"
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="serve the port from N processes (SO_REUSEPORT; selectors, asyncio, trio;"
        " each process has a chat room of its own; default: 1)",
    )
    # A process of --workers N: it shares the port, and says its pid in the greeting.
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument(
        "--terminator",
        type=_terminator,
        default=b"\n",
        metavar="BYTES",
        help=r"line terminator, with escapes (default: \n; e.g. '\r\n')",
    )

    commands.add_parser(
        "bench",
        help="say how to run the benchmarks (they live in the repository)",
        description=BENCH_POINTER,
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "asyncframe",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the command line with *argv* (default ``sys.argv[1:]``); return the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    args = build_parser(prog).parse_args(argv)
    where = f"{prog} {args.command}"
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(args.adapter, out)
        if args.command == "serve":
            if args.adapter == "trio" and not importable("trio"):
                return _fail(
                    err, where, "the trio adapter needs trio: pip install 'asyncframe[trio]'"
                )
            from .serve import SHARED_PORT_ADAPTERS, serve, serve_workers

            if args.workers > 1:
                if args.adapter not in SHARED_PORT_ADAPTERS:
                    return _fail(
                        err,
                        where,
                        f"--workers needs a port shared between processes:"
                        f" use --adapter {', '.join(SHARED_PORT_ADAPTERS)}",
                        status=2,
                    )
                return serve_workers(
                    args.adapter, args.host, args.port, args.terminator, args.workers, out
                )
            return serve(
                args.adapter, args.host, args.port, args.terminator, out, worker=args.worker
            )
        print(BENCH_POINTER, file=err)
        return 2
    except OSError as exc:
        return _fail(err, where, str(exc))
    except KeyboardInterrupt:
        return _fail(err, where, "interrupted", status=130)


def _fail(err: TextIO, where: str, message: str, status: int = 1) -> int:
    print(f"{where}: error: {message}", file=err)
    return status
