"""Team and agent figures computed from report data."""
from __future__ import annotations

from collections import defaultdict
from statistics import mean

from reports.data import ReportData


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
    """Calls, average score, pass rate and auto-fails of a list of scored calls."""
    if not calls:
        return {"calls": 0, "average": None, "pass_rate": None, "auto_failed": 0}
    return {
        "calls": len(calls),
        "average": mean(c["score"] for c in calls),
        "pass_rate": sum(bool(c["passed"]) for c in calls) / len(calls),
        "auto_failed": sum(bool(c["auto_failed"]) for c in calls),
    }


def coaching_priorities(data: ReportData, agent_calls: set[str], team_rates: dict[str, float],
                        limit: int = 3) -> list[dict]:
    """Criteria where the agent trails the team most, weighted by points; misses only."""
    own = pass_rates(data, agent_calls)
    ranked = []
    for cid, rate in own.items():
        if rate >= 1.0:
            continue
        definition = data.criteria.get(cid, {})
        points = definition.get("points") or 1.0
        gap = team_rates.get(cid, rate) - rate
        ranked.append({
            "criterion_id": cid,
            "name": definition.get("name") or cid,
            "coaching": definition.get("coaching") or "",
            "agent_rate": rate,
            "team_rate": team_rates.get(cid),
            "priority": (max(gap, 0.0) + (1.0 - rate)) * points,
            "misses": [
                {"call_id": call_id, **r}
                for call_id in sorted(agent_calls)
                for r in data.results.get(call_id, [])
                if r["criterion_id"] == cid and r["outcome"] == "fail"
            ],
        })
    ranked.sort(key=lambda x: (-x["priority"], x["name"]))
    return ranked[:limit]
