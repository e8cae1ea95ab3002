"""How numbers and times look on the report pages (the templates' filters and tests)."""
from __future__ import annotations

import math


def finite(value) -> bool:
    """A number a page can show and link to (imports may hold Infinity or NaN)."""
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def clock(seconds: float | None) -> str:
    """m:ss.s; empty for no time, a dash for a time that is not a finite number."""
    if seconds is None:
        return ""
    if not finite(seconds):
        return "–"
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def number(value: float | None, spec: str = "%.0f") -> str:
    """`spec` % value, or a dash for a missing or non-finite value."""
    return spec % float(value) if finite(value) else "–"


def measure(value: float | None) -> str:
    """A metric value: a whole number as it is, others with up to two decimals below 10 and one
    from 10 up ("3", "0.87", "7.5", "12.4"); a dash for a missing or non-finite value."""
    if not finite(value):
        return "–"
    value = float(value)
    if value == int(value):
        return f"{int(value)}"
    text = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return text.rstrip("0").rstrip(".")


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"
