"""Shared helpers for the benchmarks: timing, results and the ratio table.

Every benchmark measures asyncframe and its peer on the same input, alternating
runs (in the same process, or under the same client and load), and reports the
ratio ``peer_time / asyncframe_time`` (above 1.0 means asyncframe is faster).
Absolute times are printed too, but only the ratios are comparable across machines.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["OnResult", "Result", "best_time", "compare", "format_table", "render"]


@dataclass(frozen=True)
class Result:
    """One comparison: asyncframe's time against a peer's on the same work."""

    name: str
    peer: str
    ours: float
    theirs: float
    target: float | None = None
    #: What ``ours`` and ``theirs`` count: ``"s"``, seconds of work (shown in ms);
    #: ``"s/request"``, CPU seconds per request (shown in microseconds).
    unit: str = "s"

    @property
    def ratio(self) -> float:
        """How many times faster asyncframe was (peer time / asyncframe time)."""
        return self.theirs / self.ours if self.ours else float("inf")

    @property
    def met(self) -> bool | None:
        """Whether the target ratio was met (None if there is no target)."""
        return None if self.target is None else self.ratio >= self.target


#: A callback given each result as soon as it is measured (for progress display).
OnResult = Callable[["Result"], None]


def best_time(func: Callable[[], object], repeat: int) -> float:
    """Return the best of *repeat* timings of ``func()``, with the GC paused."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            func()
            best = min(best, time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return best


def compare(
    name: str,
    ours: Callable[[], object],
    peer: str,
    theirs: Callable[[], object],
    *,
    repeat: int = 5,
    target: float | None = None,
) -> Result:
    """Time *ours* and *theirs* alternately, *repeat* rounds, and keep each one's best."""
    best_ours = best_theirs = float("inf")
    for _ in range(repeat):
        best_ours = min(best_ours, best_time(ours, 1))
        best_theirs = min(best_theirs, best_time(theirs, 1))
    return Result(name, peer, best_ours, best_theirs, target)


def format_table(results: list[Result]) -> str:
    """Render results as a plain-text table with the ratio and the target verdict."""
    header = ("benchmark", "peer", "asyncframe", "peer time", "ratio", "target")
    rows = [header]
    for r in results:
        target = "-" if r.target is None else f">= {r.target:g}x {'ok' if r.met else 'MISSED'}"
        rows.append(
            (
                r.name,
                r.peer,
                _amount(r.ours, r.unit),
                _amount(r.theirs, r.unit),
                f"{r.ratio:.2f}x",
                target,
            )
        )
    return render(rows)


def _amount(value: float, unit: str) -> str:
    if unit == "s/request":
        return f"{value * 1e6:.1f} us/request"
    return f"{value * 1e3:.2f} ms"


def render(rows: Sequence[Sequence[str]]) -> str:
    """Render *rows* (the first is the header) as plain-text columns with a rule."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
