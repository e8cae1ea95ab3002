"""Team and agent figures.

The report pages take them from DuckDB's aggregates (`reports.pages.Site`, queries in
qa/store_read.py); the functions over `ReportData` below compute the same figures in plain Python
from data loaded whole (`reports.data.load`): the reference the aggregates are tested against.
Ranking criteria to coach and naming the weakest one is shared by both (`rank_priorities`,
`weakest_of`)."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from statistics import mean

from reports.data import ReportData

TREND_STEP = 3.0  # score points between halves that count as a trend


def pass_rates(data: ReportData, call_ids: set[str] | None = None) -> dict[str, float]:
    """Criterion id -> share of applicable (non-N/A) results that passed."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for call_id, results in data.results.items():
        if call_ids is not None and call_id not in call_ids:
            continue
        for r in results:
            if r["outcome"] != "na":
                counts[r["criterion_id"]][1] += 1
                counts[r["criterion_id"]][0] += r["outcome"] == "pass"
    return {cid: passed / total for cid, (passed, total) in counts.items() if total}


def summary(calls: list[dict]) -> dict:
    """Calls, average score, pass rate, auto-fails and trend (see `trend`) of a list of scored
    calls; None for the average and pass rate of no calls."""
    if not calls:
        return {"calls": 0, "average": None, "pass_rate": None, "auto_failed": 0, "trend": ""}
    return {
        "calls": len(calls),
        "average": mean(c["score"] for c in calls),
        "pass_rate": sum(bool(c["passed"]) for c in calls) / len(calls),
        "auto_failed": sum(bool(c["auto_failed"]) for c in calls),
        "trend": trend(calls),
    }


def trend(calls: list[dict]) -> str:
    """↑, ↓ or → comparing the average score of the later half of the calls (by date) with the
    earlier half, a change of TREND_STEP points or more; "" for fewer than two calls."""
    ordered = sorted(calls, key=lambda c: (c["call_date"] or date.min, c["call_id"]))
    if len(ordered) < 2:
        return ""
    half = len(ordered) // 2
    return trend_arrow(mean(c["score"] for c in ordered[half:]) - mean(c["score"] for c in ordered[:half]))


def trend_arrow(change: float | None) -> str:
    """↑, ↓ or → for a change of the average score (TREND_STEP points or more); "" for None."""
    if change is None:
        return ""
    return "↑" if change >= TREND_STEP else "↓" if change <= -TREND_STEP else "→"


def rank_priorities(own: dict[str, float], team_rates: dict[str, float], criteria: dict, limit: int = 3) -> list[dict]:
    """Up to `limit` criteria the agent does not always pass (`own`: criterion id -> the agent's
    pass rate), to coach first: ranked by the gap to the team's pass rate plus the agent's own
    miss rate, times the criterion's points (then by name)."""
    ranked = []
    for cid, rate in own.items():
        if rate >= 1.0:
            continue
        definition = criteria.get(cid, {})
        points = definition.get("points") or 1.0
        gap = team_rates.get(cid, rate) - rate
        ranked.append({
            "criterion_id": cid,
            "name": definition.get("name") or cid,
            "coaching": definition.get("coaching") or "",
            "agent_rate": rate,
            "team_rate": team_rates.get(cid),
            "priority": (max(gap, 0.0) + (1.0 - rate)) * points,
        })
    ranked.sort(key=lambda x: (-x["priority"], x["name"]))
    return ranked[:limit]


def weakest_of(rates: dict[str, float], criteria: dict) -> str:
    """Name of the criterion passed least often (ties: more points first); "–" when there are no
    applicable results or every criterion is always passed."""
    if not rates:
        return "–"
    cid = min(rates, key=lambda c: (rates[c], -(criteria.get(c, {}).get("points") or 0), c))
    return "–" if rates[cid] >= 1.0 else criteria.get(cid, {}).get("name") or cid


def weekly(calls: list[dict]) -> list[tuple[date, float, float, int]]:
    """(Monday of the week, average score, pass rate, calls) for every week with dated calls."""
    weeks: dict[date, list[dict]] = defaultdict(list)
    for c in calls:
        if c["call_date"]:
            weeks[c["call_date"] - timedelta(days=c["call_date"].weekday())].append(c)
    return [(start, mean(c["score"] for c in cs), sum(bool(c["passed"]) for c in cs) / len(cs), len(cs))
            for start, cs in sorted(weeks.items())]


def coaching_priorities(data: ReportData, agent_calls: set[str], team_rates: dict[str, float],
                        limit: int = 3) -> list[dict]:
    """Up to `limit` criteria the agent does not always pass, to coach first: ranked by the gap to
    the team's pass rate plus the agent's own miss rate, times the criterion's points; each with
    the agent's failed results ("misses", most recent first: by date, undated last, then id
    descending) and, as a model, a teammate's passing quote."""
    ranked = rank_priorities(pass_rates(data, agent_calls), team_rates, data.criteria, limit)
    recent = sorted((c for c in data.calls if c["call_id"] in agent_calls),
                    key=lambda c: (c["call_date"] or date.min, c["call_id"]), reverse=True)
    for p in ranked:
        cid = p["criterion_id"]
        p["misses"] = [{"call_id": c["call_id"], **r} for c in recent
                       for r in data.results.get(c["call_id"], []) if r["criterion_id"] == cid and r["outcome"] == "fail"]
        p["model"] = _teammate_quote(data, cid, agent_calls)
    return ranked


def _teammate_quote(data: ReportData, criterion_id: str, agent_calls: set[str]) -> dict | None:
    """The latest passing quote for a criterion from another agent's call, in a language the
    agent speaks when there is one."""
    by_id = {c["call_id"]: c for c in data.calls}
    languages = {by_id[c]["language"] for c in agent_calls if c in by_id}
    ordered = sorted(data.calls, key=lambda c: (c["language"] in languages, c["call_date"] or date.min, c["call_id"]),
                     reverse=True)
    for call in ordered:
        if call["call_id"] in agent_calls:
            continue
        for r in data.results.get(call["call_id"], []):
            if r["criterion_id"] == criterion_id and r["outcome"] == "pass":
                quotes = [e for e in r["evidence"] if e["kind"] == "quote"]
                if quotes:
                    return {"call_id": call["call_id"], "agent": by_id[call["call_id"]]["agent"], **quotes[0]}
    return None


def weakest(data: ReportData, agent_calls: set[str]) -> str:
    """Name of the criterion the agent passes least often (ties: more points first); "–" when the
    agent has no applicable results or passes every criterion on every call."""
    return weakest_of(pass_rates(data, agent_calls), data.criteria)


def highlighted(text: str, evidence: list[dict]) -> list[tuple[str, str | None]]:
    """Split a turn's text into (piece, criterion name or None) around the quotes of `evidence`
    found in it; a quote overlapping an earlier one is not marked."""
    marks = []
    for e in evidence:
        at = text.find(e["quote"]) if e["quote"] else -1
        if at >= 0:
            marks.append((at, at + len(e["quote"]), e["criterion_name"]))
    pieces, pos = [], 0
    for start, end, name in sorted(marks):
        if start < pos:
            continue
        if start > pos:
            pieces.append((text[pos:start], None))
        pieces.append((text[start:end], name))
        pos = end
    if pos < len(text):
        pieces.append((text[pos:], None))
    return pieces
