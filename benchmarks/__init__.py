"""asyncframe against its peers, side by side: ``python -m benchmarks`` from a checkout.

Five suites, each comparing asyncframe with a peer on the same input (the echo
suite drives every server from the same client process; the conversation suite
runs each server in a process of its own and drives it from this one):

- ``inbound``: the core's ``next_event()`` and ``frames()`` against the stdlib
  ``asynchat``, Twisted's ``LineOnlyReceiver`` and an asyncio ``readuntil`` loop;
- ``asynchat``: the drop-in ``async_chat.handle_read`` against the stdlib one;
- ``records``: the record kinds (RESP, struct-prefixed records, netstrings,
  ``%d\r\n`` headers) against redis-py's parser, asyncio and the stdlib ``asynchat``;
- ``echo``: loopback echo throughput of each adapter against its framework's idiom;
- ``conversation``: requests and their replies (ping-pong, a Redis-like protocol at
  pipeline depth 1 and 16, server CPU per request, 1,000 echo clients, one client
  streaming).

Peers that are not installed are left out, with a note. Ratios are
``peer time / asyncframe time``: above 1.0 means asyncframe was faster.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TextIO

from . import asynchat_inbound, conversation, echo, inbound, records
from .common import Result, format_table, render

__all__ = ["SUITES", "plot", "run_bench"]

SUITES: dict[str, tuple[str, Callable[..., list[Result]]]] = {
    "inbound": ("inbound framing: the core against asynchat, Twisted, asyncio", inbound.run),
    "asynchat": ("the async_chat drop-in against the stdlib asynchat", asynchat_inbound.run),
    "records": ("record kinds: RESP, struct, netstrings, %d headers against peers", records.run),
    "echo": ("loopback echo: each adapter against its framework's idiom", echo.run),
    "conversation": (
        "conversations: ping-pong, a Redis-like protocol, CPU per request, 1,000 clients",
        conversation.run,
    ),
}


def _verdict(result: Result) -> str:
    if result.target is None:
        return "no target"
    return f"target >= {result.target:g}x {'met' if result.met else 'MISSED'}"


def run_bench(
    suites: list[str],
    *,
    quick: bool,
    plot_path: str | None,
    out: TextIO,
    progress: TextIO,
    runs: int = 1,
) -> int:
    """Run *suites* *runs* times, report progress and the ratios; return the exit status.

    With one run the table shows each time and ratio; with several, each row's
    ratio in every run with their minimum and median, and a target counts as met
    only if it was met in every run (its minimum). The status is 1 if a target was
    missed, else 0. With *plot_path*, the (minimum) ratios are also drawn to that
    PNG file.
    """
    all_runs: list[list[Result]] = []

    def show(result: Result) -> None:
        print(
            f"      {result.name} vs {result.peer}: {result.ratio:.2f}x ({_verdict(result)})",
            file=progress,
            flush=True,
        )

    started = time.perf_counter()
    for run_number in range(1, runs + 1):
        if runs > 1:
            print(f"== run {run_number} of {runs}", file=progress, flush=True)
        results: list[Result] = []
        for number, name in enumerate(suites, 1):
            title, run = SUITES[name]
            print(f"[{number}/{len(suites)}] {title} ...", file=progress, flush=True)
            suite_results = run(quick=quick, on_result=show)
            if not suite_results:
                print("      nothing to compare with here (peer not installed)", file=progress)
            results.extend(suite_results)
        all_runs.append(results)
    elapsed = time.perf_counter() - started
    print(file=progress, flush=True)
    if runs == 1:
        results = all_runs[0]
        if results:
            print(format_table(results), file=out)
    else:
        results = summarize(all_runs)
        if results:
            print(format_summary(all_runs), file=out)
    if "inbound" in suites:
        for missing in inbound.missing_peers():
            print(f"not measured: {missing}", file=out)
    if "records" in suites:
        for missing in records.missing_peers():
            print(f"not measured (records): {missing}", file=out)
    if "conversation" in suites:
        for note in conversation.notes():
            print(note, file=out)
    targets = [r for r in results if r.target is not None]
    met = sum(bool(r.met) for r in targets)
    print(
        f"{met} of {len(targets)} targets met"
        f"{f' in every one of {runs} runs' if runs > 1 else ''}; {len(results)} comparisons"
        f" in {elapsed:.1f} s{' (--quick: smaller inputs, fewer rounds)' if quick else ''}",
        file=out,
    )
    if plot_path is not None and results:
        plot(results, plot_path)
        print(f"plot written to {plot_path}", file=out)
    return 0 if met == len(targets) else 1


def _rows(all_runs: list[list[Result]]) -> dict[tuple[str, str], list[Result]]:
    """Each comparison's results over the runs, in the order of the first run."""
    rows: dict[tuple[str, str], list[Result]] = {}
    for results in all_runs:
        for result in results:
            rows.setdefault((result.name, result.peer), []).append(result)
    return rows


def summarize(all_runs: list[list[Result]]) -> list[Result]:
    """One result per comparison whose ratio is its minimum over the runs."""
    summary = []
    for (name, peer), results in _rows(all_runs).items():
        worst = min(results, key=lambda r: r.ratio)
        summary.append(Result(name, peer, worst.ours, worst.theirs, worst.target, worst.unit))
    return summary


def format_summary(all_runs: list[list[Result]]) -> str:
    """Render each comparison's ratio in every run, with the minimum and the median."""
    header = ("benchmark", "peer", "ratios per run", "min", "median", "target (on the min)")
    table = [header]
    for (name, peer), results in _rows(all_runs).items():
        ratios = [r.ratio for r in results]
        low = min(ratios)
        target = results[0].target
        verdict = "-" if target is None else f">= {target:g}x {'ok' if low >= target else 'MISSED'}"
        table.append(
            (
                name,
                peer,
                " ".join(f"{ratio:.2f}" for ratio in ratios),
                f"{low:.2f}x",
                f"{statistics.median(ratios):.2f}x",
                verdict,
            )
        )
    return render(table)


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
