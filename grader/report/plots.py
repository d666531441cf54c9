"""Figures for the pages, drawn with matplotlib and returned as inline SVG.

Figures are built with `Figure` directly, never pyplot, so no GUI backend is ever chosen. Axis labels
stay in plain English/maths: the figure's caption, written in HTML, carries the translation, so
matplotlib needs no CJK font.
"""

from __future__ import annotations

import io
import math

import matplotlib
from markupsafe import Markup
from matplotlib.figure import Figure

PASS_COLOUR = "#2e7d32"
FAIL_COLOUR = "#c62828"
LINE_COLOUR = "#1565c0"


def _svg(fig: Figure, salt: str) -> Markup:
    """The figure as an `<svg>` element; `salt` keeps element ids unique among a page's figures."""
    buf = io.StringIO()
    # Text stays text (the browser draws it) and the margins are fixed: both halve the time per figure,
    # which counts when a batch of 500 students is rendered at the end of `grade`.
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return Markup(svg[svg.index("<svg"):])


def training_figure(loss: list[float], dice: float | None, threshold: float | None,
                    dice_per_image: list[float], salt: str) -> Markup:
    """Loss per step (left) and Dice, per image when known, against the pass threshold (right)."""
    fig = Figure(figsize=(8.5, 2.8))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.96, wspace=0.22)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    finite = [v for v in loss if isinstance(v, (int, float)) and math.isfinite(v)]
    if loss:
        left.plot(range(1, len(loss) + 1), loss, color=LINE_COLOUR, linewidth=1.2)
        if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
            left.set_yscale("log")
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.grid(alpha=0.3)

    passed = dice is not None and threshold is not None and dice >= threshold
    colour = PASS_COLOUR if passed else FAIL_COLOUR
    if dice_per_image:
        right.scatter(range(1, len(dice_per_image) + 1), dice_per_image, s=14, color=colour, zorder=3)
        right.set_xlim(0.5, len(dice_per_image) + 0.5)
        right.set_xlabel("image")
    elif dice is not None:
        right.bar([0], [dice], width=0.5, color=colour)
        right.set_xticks([])
    if dice is not None:
        right.axhline(dice, color=colour, linewidth=1.2, label=f"Dice {dice:.3f}")
    if threshold is not None:
        right.axhline(threshold, color="black", linestyle="--", linewidth=1,
                      label=f"threshold {threshold:.3f}")
    right.set_ylim(0, 1.02)
    right.set_ylabel("Dice")
    right.grid(alpha=0.3, axis="y")
    if dice is not None or threshold is not None:
        right.legend(loc="lower right", fontsize=8)
    return _svg(fig, salt)


def histogram(totals: list[float], max_score: float, salt: str = "histogram") -> Markup:
    """How many submissions scored in each of 20 equal bins between 0 and the maximum."""
    fig = Figure(figsize=(7.5, 2.6))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.18, top=0.96)
    ax = fig.subplots()
    top = max([max_score, *totals, 1.0])
    ax.hist(totals, bins=20, range=(0, top), color=LINE_COLOUR, edgecolor="white")
    ax.set_xlim(0, top)
    ax.set_xlabel("total score")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3, axis="y")
    return _svg(fig, salt)
