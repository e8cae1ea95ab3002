"""Choosing which scored calls the QA team reviews.

:func:`sample` picks up to ``per_agent`` not yet reviewed calls per agent per
period (day, ISO week or month), the most informative first:

1. auto-failed calls;
2. calls whose score lies within ``near_pass_margin`` points of the pass mark;
3. calls where a criterion whose agreement is unknown or low
   (``uncertain_criteria``, e.g. the keys of :func:`qa.calibration.needs_review`)
   was decided — answered pass or fail;
4. the rest.

A call belongs to its first matching tier. Within a tier the order is random
but reproducible: each call's place is a hash of (seed, call id), so the same
calls and seed always give the same picks whatever the input order, and adding
or removing other calls never reshuffles the ones that stay.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, NamedTuple

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = ("day", "week", "month")

AUTO_FAIL, NEAR_PASS, UNCERTAIN, RANDOM = range(4)   # priority tiers, first picked first


@dataclass(frozen=True)
class CallRow:
    """One stored, scored call as sampling sees it.

    ``outcomes`` maps criterion id to "pass", "fail" or "na". ``score``,
    ``pass_mark`` and ``passed`` may be None for a call not (fully) scored.
    """

    call_id: str
    agent: str | None
    date: date | datetime
    score: float | None
    passed: bool | None
    auto_failed: bool
    pass_mark: float | None
    outcomes: Mapping[str, str] = field(default_factory=dict)


class Pick(NamedTuple):
    """A call chosen for review, with the period it was counted in and why."""

    call_id: str
    agent: str | None
    period: str
    reason: str


def period_label(when: date | datetime, period: Period) -> str:
    """The label of the period holding ``when``: 2026-11-28, 2026-W48 (ISO week) or 2026-11."""
    day = when.date() if isinstance(when, datetime) else when
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise ValueError(f"period must be one of {PERIODS}, got {period!r}")


def sample(calls: Iterable[CallRow], *, per_agent: int, period: Period, seed: int,
           reviewed: AbstractSet[str] = frozenset(), uncertain_criteria: AbstractSet[str] = frozenset(),
           near_pass_margin: float = 5.0) -> list[Pick]:
    """Up to ``per_agent`` calls per agent per period for review, highest priority first.

    Calls in ``reviewed`` are skipped. The result is ordered by agent (None
    last), period, then pick order. A call id given twice is a ValueError.
    """
    if per_agent < 0:
        raise ValueError(f"per_agent must be 0 or more, got {per_agent}")
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
    groups: dict[tuple[str | None, str], list[tuple[int, str, CallRow]]] = defaultdict(list)
    for call in _unique(calls):
        if call.call_id in reviewed:
            continue
        tier, reason = _priority(call, uncertain_criteria, near_pass_margin)
        groups[(call.agent, period_label(call.date, period))].append((tier, reason, call))
    picks: list[Pick] = []
    for agent, label in sorted(groups, key=lambda k: (k[0] is None, k[0] or "", k[1])):
        ranked = sorted(groups[(agent, label)], key=lambda t: (t[0], _draw(seed, t[2].call_id)))
        picks += [Pick(call.call_id, agent, label, reason) for _, reason, call in ranked[:per_agent]]
    return picks


def _unique(calls: Iterable[CallRow]) -> list[CallRow]:
    seen: set[str] = set()
    out = []
    for call in calls:
        if call.call_id in seen:
            raise ValueError(f"call {call.call_id!r} given more than once")
        seen.add(call.call_id)
        out.append(call)
    return out


def _priority(call: CallRow, uncertain: AbstractSet[str], margin: float) -> tuple[int, str]:
    """The call's tier and the reason shown to the reviewer."""
    if call.auto_failed:
        return AUTO_FAIL, "auto-fail"
    if call.score is not None and call.pass_mark is not None and abs(call.score - call.pass_mark) <= margin:
        return NEAR_PASS, f"score {call.score:.1f} near pass mark {call.pass_mark:g}"
    decided = sorted(c for c, outcome in call.outcomes.items() if c in uncertain and outcome in ("pass", "fail"))
    if len(decided) == 1:
        return UNCERTAIN, f"criterion {decided[0]} needs calibration"
    if decided:
        return UNCERTAIN, f"criteria {', '.join(decided)} need calibration"
    return RANDOM, "random"


def _draw(seed: int, call_id: str) -> bytes:
    """A call's reproducible random place within its tier."""
    return hashlib.sha256(f"{seed}\0{call_id}".encode()).digest()
