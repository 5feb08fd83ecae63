"""``python -m benchmarks``: run the benchmark suites from a checkout and print the ratios."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import SUITES, run_bench


def _suites(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SUITES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown suite {', '.join(unknown) or repr(text)}: choose from {', '.join(SUITES)}"
        )
    return names


def _runs(text: str) -> int:
    try:
        runs = int(text)
    except ValueError:
        runs = 0
    if runs < 1:
        raise argparse.ArgumentTypeError(f"invalid number of runs {text!r}: use 1 or more")
    return runs


def main(argv: list[str] | None = None) -> int:
    """Parse *argv*, run the chosen suites, and return the exit status (1: a target missed)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time asyncframe against its peers on the same input in one process and"
        " print the ratios (peer time / asyncframe time; above 1 is faster). Peers that are"
        " not installed are skipped. The exit status is 1 if a target was missed.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer rounds")
    parser.add_argument(
        "--only",
        type=_suites,
        default=None,
        metavar="SUITES",
        help=f"comma-separated suites: {', '.join(SUITES)} (default: all)",
    )
    parser.add_argument(
        "--runs",
        type=_runs,
        default=1,
        metavar="N",
        help="run every suite N times and report each ratio's min and median (default: 1)",
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="also draw the ratios to a PNG file (needs matplotlib)"
    )
    args = parser.parse_args(argv)
    if args.plot is not None:
        try:
            importlib.import_module("matplotlib")
        except ImportError:
            parser.error("--plot needs matplotlib: pip install -e '.[bench]'")
    suites = args.only or list(SUITES)
    return run_bench(
        suites,
        quick=args.quick,
        plot_path=args.plot,
        out=sys.stdout,
        progress=sys.stderr,
        runs=args.runs,
    )


if __name__ == "__main__":
    raise SystemExit(main())
