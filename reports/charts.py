"""Charts as inline SVG, drawn here as plain SVG elements (no network, no JavaScript at view time).

Written by hand rather than with matplotlib: a report draws two charts per agent, and at 200
agents matplotlib's figures alone took about 30 s; these take well under a millisecond each. All
text (agent and criterion names are user data) is escaped and stripped of control characters,
which SVG (XML) cannot hold."""
from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

from qa.terminal import printable

BLUE, GREY, RED, LIGHT = "#2f6fdf", "#9aa5b1", "#c0392b", "#d9e2ec"
WIDTH = 720
FONT = 'font-family="system-ui, -apple-system, \'Segoe UI\', sans-serif" font-size="11" fill="#1f2933"'


def _text(value) -> Markup:
    return escape(printable(str(value)))


def _svg(height: float, body: list[str], label: str) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" '
                  f'height="{height:.0f}" role="img" aria-label="{_text(label)}" {FONT}>' + "".join(body) + "</svg>")


class _DateAxis:
    """x positions of days between `left` and `right`; a single day gets a day of margin each side."""

    def __init__(self, days: list[date], left: float, right: float):
        self.first, last = min(days), max(days)
        if self.first == last:
            self.first, last = self.first - timedelta(days=1), last + timedelta(days=1)
        self.span = (last - self.first).days
        self.left, self.right = left, right

    def x(self, day: date) -> float:
        return self.left + (self.right - self.left) * (day - self.first).days / self.span

    def ticks(self, most: int = 8) -> list[date]:
        step = max(1, -(-self.span // (most - 1)))
        return [self.first + timedelta(days=d) for d in range(0, self.span + 1, step)]


def _y_axis(body: list[str], left: float, right: float, y, values: range, label: str) -> None:
    for v in values:
        body.append(f'<line x1="{left}" x2="{right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eef1f4"/>'
                    f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    body.append(f'<text transform="translate(12 {(y(values[0]) + y(values[-1])) / 2:.0f}) rotate(-90)" '
                f'text-anchor="middle">{_text(label)}</text>')


def _x_dates(body: list[str], axis: _DateAxis, bottom: float) -> None:
    body.append(f'<line x1="{axis.left}" x2="{axis.right}" y1="{bottom}" y2="{bottom}" stroke="#7b8794"/>')
    for day in axis.ticks():
        body.append(f'<text x="{axis.x(day):.1f}" y="{bottom + 15}" text-anchor="middle">{day.strftime("%d %b")}</text>')


def score_trend(points: list[tuple[date, float, bool]], pass_mark: float, title: str) -> Markup:
    """Score of each call (or week) over time, pass mark as a dashed line, failed ones in red."""
    height, left, right, top, bottom = 240, 48, WIDTH - 16, 28, 205
    y = lambda v: bottom - (bottom - top) * (v + 2) / 104  # noqa: E731  (-2 .. 102, as before)
    body = [f'<text x="{left}" y="16" font-size="12">{_text(title)}</text>']
    _y_axis(body, left, right, y, range(0, 101, 20), "score")
    if points:
        axis = _DateAxis([p[0] for p in points], left, right)
        _x_dates(body, axis, bottom)
        xy = [(axis.x(p[0]), y(min(max(p[1], -2), 102))) for p in points]
        body.append('<polyline fill="none" stroke="%s" stroke-width="1" points="%s"/>'
                    % (GREY, " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)))
        body += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{BLUE if p[2] else RED}"/>'
                 for (a, b), p in zip(xy, points)]
    if pass_mark is not None and -2 <= pass_mark <= 102:
        body.append(f'<line x1="{left}" x2="{right}" y1="{y(pass_mark):.1f}" y2="{y(pass_mark):.1f}" '
                    f'stroke="{GREY}" stroke-dasharray="5 4"/>')
    return _svg(height, body, title)


def weekly_team(weeks: list[tuple[date, float, float, int]]) -> Markup:
    """Average score (line) and pass rate (bars) per week: (week start, average, pass rate, calls)."""
    height, left, right, top, bottom = 240, 48, WIDTH - 16, 28, 205
    title = "Average score and pass rate by week"
    y = lambda v: bottom - (bottom - top) * v / 105  # noqa: E731
    body = [f'<text x="{left}" y="16" font-size="12">{title}</text>']
    _y_axis(body, left, right, y, range(0, 101, 20), "")
    if weeks:
        axis = _DateAxis([w[0] for w in weeks], left + 20, right - 20)
        _x_dates(body, axis, bottom)
        bar = max(4.0, min(40.0, (axis.x(axis.first + timedelta(days=5)) - axis.x(axis.first))))
        for start, _, rate, calls in weeks:
            body.append(f'<rect x="{axis.x(start) - bar / 2:.1f}" y="{y(100 * rate):.1f}" width="{bar:.1f}" '
                        f'height="{bottom - y(100 * rate):.1f}" fill="{LIGHT}"><title>{start}: {100 * rate:.0f}% '
                        f'passed of {calls} calls</title></rect>')
        xy = [(axis.x(w[0]), y(w[1])) for w in weeks]
        body.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>'
                    % (BLUE, " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)))
        body += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{BLUE}"/>' for a, b in xy]
        body.append(f'<rect x="{right - 200}" y="7" width="10" height="10" fill="{LIGHT}"/>'
                    f'<text x="{right - 186}" y="16">pass rate %</text>'
                    f'<circle cx="{right - 100}" cy="12" r="3" fill="{BLUE}"/>'
                    f'<text x="{right - 92}" y="16">average score</text>')
    return _svg(height, body, title)


def criterion_bars(rows: list[tuple[str, float | None, float | None]], labels: tuple[str, str]) -> Markup:
    """Horizontal bars of pass rates per criterion: (name, first rate, second rate or None)."""
    two = any(r[2] is not None for r in rows)
    row_h, top, left, right = 26, 26 if two else 8, 260, WIDTH - 40
    bottom = top + row_h * max(len(rows), 1)
    x = lambda rate: left + (right - left) * max(0.0, min(1.0, rate or 0))  # noqa: E731
    body = []
    for v in range(0, 101, 20):
        xv = left + (right - left) * v / 100
        body.append(f'<line x1="{xv:.1f}" x2="{xv:.1f}" y1="{top}" y2="{bottom}" stroke="#eef1f4"/>'
                    f'<text x="{xv:.1f}" y="{bottom + 14}" text-anchor="middle">{v}</text>')
    body.append(f'<text x="{(left + right) / 2:.0f}" y="{bottom + 30}" text-anchor="middle">'
                f'pass rate % (applicable calls)</text>')
    for i, (name, first, second) in enumerate(rows):
        y0 = top + i * row_h
        shown = printable(str(name))
        body.append(f'<text x="{left - 8}" y="{y0 + row_h / 2 + 4:.1f}" text-anchor="end">'
                    f'{escape(shown if len(shown) <= 40 else shown[:39] + "…")}<title>{escape(shown)}</title></text>')
        if two:
            body.append(f'<rect x="{left}" y="{y0 + 3}" width="{x(first) - left:.1f}" height="9" fill="{BLUE}"/>'
                        f'<rect x="{left}" y="{y0 + 13}" width="{x(second) - left:.1f}" height="9" fill="{GREY}"/>')
        else:
            body.append(f'<rect x="{left}" y="{y0 + 5}" width="{x(first) - left:.1f}" height="15" fill="{BLUE}"/>')
    if two:
        body.append(f'<rect x="{left}" y="6" width="10" height="10" fill="{BLUE}"/>'
                    f'<text x="{left + 14}" y="15">{_text(labels[0])}</text>'
                    f'<rect x="{left + 180}" y="6" width="10" height="10" fill="{GREY}"/>'
                    f'<text x="{left + 194}" y="15">{_text(labels[1])}</text>')
    return _svg(bottom + 40, body, "pass rate per criterion")
