"""Charts as inline SVG, drawn with matplotlib (no network, no JavaScript at view time)."""
from __future__ import annotations

import io
import warnings
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from markupsafe import Markup  # noqa: E402

from qa.terminal import printable  # noqa: E402

matplotlib.rcParams.update({
    "svg.fonttype": "none",          # text stays text (small files, selectable)
    "svg.hashsalt": "callqa",        # stable ids between runs
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "text.parse_math": False,        # agent and criterion names are user text, never TeX ($, \\frac ...)
})

BLUE, GREY, RED = "#2f6fdf", "#9aa5b1", "#c0392b"


def _date_axis(ax, days: list[date]) -> None:
    """Readable day labels; a single day gets a day of margin on each side."""
    if min(days) == max(days):
        ax.set_xlim(min(days) - timedelta(days=1), max(days) + timedelta(days=1))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=1, maxticks=8))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))


def _svg(fig) -> Markup:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Text stays text in the SVG and the browser's fonts draw it; a script DejaVu lacks is no fault.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return Markup(text[text.index("<svg"):])  # drop the XML prolog and doctype


def score_trend(points: list[tuple[date, float, bool]], pass_mark: float, title: str) -> Markup:
    """Score of each call over time, pass mark as a line, failed calls in red."""
    fig, ax = plt.subplots(figsize=(7.5, 2.4))
    if points:
        days = [p[0] for p in points]
        ax.plot(days, [p[1] for p in points], color=GREY, linewidth=1, zorder=1)
        ax.scatter(days, [p[1] for p in points], c=[BLUE if p[2] else RED for p in points], s=18, zorder=2)
        _date_axis(ax, days)
    ax.axhline(pass_mark, color=GREY, linestyle="--", linewidth=1)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("score")
    ax.set_title(printable(title), loc="left")  # control characters are not valid in SVG (XML)
    return _svg(fig)


def weekly_team(weeks: list[tuple[date, float, float, int]]) -> Markup:
    """Average score (line) and pass rate (bars) per week: (week start, average, pass rate, calls)."""
    fig, ax = plt.subplots(figsize=(7.5, 2.4))
    if weeks:
        starts = [w[0] for w in weeks]
        ax.bar(starts, [100 * w[2] for w in weeks], width=5, color="#d9e2ec", label="pass rate %")
        ax.plot(starts, [w[1] for w in weeks], color=BLUE, marker="o", label="average score")
        _date_axis(ax, starts)
        ax.legend(loc="lower left", frameon=False, ncols=2)
    ax.set_ylim(0, 105)
    ax.set_title("Average score and pass rate by week", loc="left")
    return _svg(fig)


def criterion_bars(rows: list[tuple[str, float | None, float | None]], labels: tuple[str, str]) -> Markup:
    """Horizontal bars of pass rates per criterion: (name, first rate, second rate or None)."""
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(rows), 1) + 0.6))
    names = [printable(r[0]) for r in rows][::-1]
    first = [100 * (r[1] or 0) for r in rows][::-1]
    y = range(len(rows))
    if any(r[2] is not None for r in rows):
        second = [100 * (r[2] or 0) for r in rows][::-1]
        ax.barh([i + 0.2 for i in y], first, height=0.4, color=BLUE, label=printable(labels[0]))
        ax.barh([i - 0.2 for i in y], second, height=0.4, color=GREY, label=printable(labels[1]))
        ax.legend(loc="lower right", frameon=False, ncols=2, bbox_to_anchor=(1, 1))
    else:
        ax.barh(list(y), first, height=0.6, color=BLUE)
    ax.set_yticks(list(y), names)
    ax.set_xlim(0, 100)
    ax.set_xlabel("pass rate % (applicable calls)")
    return _svg(fig)
