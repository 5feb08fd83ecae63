"""asyncframe against its peers, side by side: ``python -m benchmarks`` from a checkout.

Three suites, each comparing asyncframe with a peer on the same input in this
process (the echo suite drives every server from the same client process):

- ``inbound``: the core's ``next_event()`` and ``frames()`` against the stdlib
  ``asynchat``, Twisted's ``LineOnlyReceiver`` and an asyncio ``readuntil`` loop;
- ``asynchat``: the drop-in ``async_chat.handle_read`` against the stdlib one;
- ``echo``: loopback echo throughput of each adapter against its framework's idiom.

Peers that are not installed are left out, with a note. Ratios are
``peer time / asyncframe time``: above 1.0 means asyncframe was faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from . import asynchat_inbound, echo, inbound
from .common import Result, format_table

__all__ = ["SUITES", "plot", "run_bench"]

SUITES: dict[str, tuple[str, Callable[..., list[Result]]]] = {
    "inbound": ("inbound framing: the core against asynchat, Twisted, asyncio", inbound.run),
    "asynchat": ("the async_chat drop-in against the stdlib asynchat", asynchat_inbound.run),
    "echo": ("loopback echo: each adapter against its framework's idiom", echo.run),
}


def _verdict(result: Result) -> str:
    if result.target is None:
        return "no target"
    return f"target >= {result.target:g}x {'met' if result.met else 'MISSED'}"


def run_bench(
    suites: list[str], *, quick: bool, plot_path: str | None, out: TextIO, progress: TextIO
) -> int:
    """Run *suites*, report progress and the ratio table; return the exit status.

    The status is 1 if a target was missed, else 0. With *plot_path*, the ratios
    are also drawn to that PNG file.
    """
    results: list[Result] = []

    def show(result: Result) -> None:
        print(
            f"      {result.name} vs {result.peer}: {result.ratio:.2f}x ({_verdict(result)})",
            file=progress,
            flush=True,
        )

    started = time.perf_counter()
    for number, name in enumerate(suites, 1):
        title, run = SUITES[name]
        print(f"[{number}/{len(suites)}] {title} ...", file=progress, flush=True)
        suite_results = run(quick=quick, on_result=show)
        if not suite_results:
            print("      nothing to compare with here (peer not installed)", file=progress)
        results.extend(suite_results)
    elapsed = time.perf_counter() - started
    print(file=progress, flush=True)
    if results:
        print(format_table(results), file=out)
    if "inbound" in suites:
        for missing in inbound.missing_peers():
            print(f"not measured: {missing}", file=out)
    targets = [r for r in results if r.target is not None]
    met = sum(bool(r.met) for r in targets)
    print(
        f"{met} of {len(targets)} targets met; {len(results)} comparisons in {elapsed:.1f} s"
        f"{' (--quick: smaller inputs, fewer rounds)' if quick else ''}",
        file=out,
    )
    if plot_path is not None and results:
        plot(results, plot_path)
        print(f"plot written to {plot_path}", file=out)
    return 0 if met == len(targets) else 1


def plot(results: list[Result], path: str) -> None:
    """Draw *results* as horizontal ratio bars (log scale) with their targets, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.name}\nvs {r.peer}" for r in results][::-1]
    ratios = [r.ratio for r in results][::-1]
    colours = [
        "#9e9e9e" if r.target is None else ("#2e7d32" if r.met else "#e65100") for r in results
    ][::-1]
    fig, ax = plt.subplots(figsize=(10, 0.62 * len(results) + 1.6))
    positions = range(len(results))
    ax.barh(positions, ratios, color=colours, height=0.6)
    for y, r in zip(positions, results[::-1], strict=True):
        ax.annotate(
            f"{r.ratio:.2f}x", (max(r.ratio, r.target or 0.0), y), xytext=(4, 0),
            textcoords="offset points",
            va="center", fontsize=8,
        )  # fmt: skip
        if r.target is not None:
            ax.plot([r.target, r.target], [y - 0.38, y + 0.38], color="black", linewidth=1.5)
    ax.axvline(1.0, color="#555555", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(list(positions), labels, fontsize=8)
    ax.set_xlabel("speed ratio: peer time / asyncframe time (log scale; black tick = target)")
    ax.set_title("asyncframe against its peers: same input, same process (higher is faster)")
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
