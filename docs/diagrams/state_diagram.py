"""Draw the Channel state diagram used by docs/events.rst.

Run from the repository root (needs matplotlib: ``pip install -e ".[bench]"``)::

    python docs/diagrams/state_diagram.py

It writes ``docs/_static/state-diagram.png``, which is committed so the docs build
without matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).resolve().parents[1] / "_static" / "state-diagram.png"

INBOUND = "#e3f2fd"
ENDED = "#eceff1"
OUTBOUND = "#e8f5e9"
EDGE = "#37474f"


def box(ax, x, y, w, h, title, body, colour):  # type: ignore[no-untyped-def]
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.012,rounding_size=0.02",
            facecolor=colour, edgecolor=EDGE, linewidth=1.3,
        )
    )  # fmt: skip
    ax.text(x, y + h / 2 - 0.035, title, ha="center", va="top", fontsize=10.5, weight="bold")
    ax.text(x, y - 0.012, body, ha="center", va="top", fontsize=8.8, linespacing=1.35)


def arrow(ax, start, end, label, *, bend=0.0, at=0.5, offset=(0.0, 0.0), colour=EDGE):  # type: ignore[no-untyped-def]
    ax.add_patch(
        FancyArrowPatch(
            start, end, connectionstyle=f"arc3,rad={bend}", arrowstyle="-|>",
            mutation_scale=14, linewidth=1.2, color=colour,
        )
    )  # fmt: skip
    x = start[0] + (end[0] - start[0]) * at + offset[0]
    y = start[1] + (end[1] - start[1]) * at + offset[1]
    ax.text(x, y, label, ha="center", va="center", fontsize=8.3, style="italic",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})  # fmt: skip


def main() -> None:
    fig, ax = plt.subplots(figsize=(11, 7.4))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.axis("off")

    ax.text(0.01, 1.075, "Inbound: the terminator decides what next_event() reports",
            fontsize=12, weight="bold", va="top")  # fmt: skip
    w, h, y = 0.235, 0.17, 0.80
    box(ax, 0.16, y, w, h, "delimited", "terminator: bytes, or a tuple of bytes\n"
        "Data ... Data, Terminator(matched)\nthen the next frame", INBOUND)  # fmt: skip
    box(ax, 0.50, y, w, h, "counting", "terminator: N >= 0\nData ... (N bytes in all),"
        " Terminator(N)\n(.terminator shows bytes still due)", INBOUND)  # fmt: skip
    box(ax, 0.84, y, w, h, "raw", "terminator: None\nData ... Data\n"
        "no Terminator ever", INBOUND)  # fmt: skip
    box(ax, 0.50, 0.455, 0.36, 0.13, "ended", "receive_data(b\"\") was called and every byte\n"
        "was reported: ConnectionClosed, forever", ENDED)  # fmt: skip

    arrow(ax, (0.285, 0.835), (0.375, 0.835), "set_terminator(N)", offset=(0, 0.03))
    arrow(ax, (0.375, 0.765), (0.285, 0.765), 'set_terminator(b"…")', offset=(0, -0.03))
    arrow(ax, (0.625, 0.80), (0.715, 0.80), "after N bytes:\nterminator\nreads None",
          offset=(0, 0.075))  # fmt: skip
    arrow(ax, (0.84, 0.895), (0.16, 0.895), "set_terminator(b\"…\") or set_terminator(N):"
          " from any state, at any time", bend=0.12, offset=(0, 0.095))  # fmt: skip
    for x in (0.16, 0.50, 0.84):
        arrow(ax, (x, 0.715), (0.50 + (x - 0.5) * 0.45, 0.52), "", colour="#78909c")
    ax.text(0.50, 0.625, "EOF: held-back bytes come out as Data first", ha="center",
            fontsize=8.3, style="italic", color="#455a64",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})  # fmt: skip
    ax.text(0.50, 0.365, "A terminator set between two events applies from the very next"
            " unread byte.\nAny split of the same bytes gives the same Terminator events and"
            " the same bytes between them.", ha="center", va="top", fontsize=8.8,
            color="#263238")  # fmt: skip

    ax.plot([0.01, 0.99], [0.27, 0.27], color="#b0bec5", linewidth=0.8)
    ax.text(0.01, 0.255, "Outbound: the producer fifo", fontsize=12, weight="bold", va="top")
    wo, ho, yo = 0.235, 0.12, 0.09
    box(ax, 0.16, yo, wo, ho, "open", "push(), push_with_producer():\nqueued, pulled lazily",
        OUTBOUND)  # fmt: skip
    box(ax, 0.50, yo, wo, ho, "closing", "queued output still goes out;\nnew pushes are refused",
        OUTBOUND)  # fmt: skip
    box(ax, 0.84, yo, wo, ho, "wants_close", "everything queued was taken:\nclose the"
        " connection", OUTBOUND)  # fmt: skip
    arrow(ax, (0.285, yo), (0.375, yo), "close_when_done()", offset=(0, 0.04))
    arrow(ax, (0.625, yo), (0.715, yo), "output\ndrained", offset=(0, 0.05))

    fig.tight_layout(pad=0.4)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
