"""The team overview (index.html): figures, agents, criteria (once there are reviews, those below
the calibration gate marked "needs human review"), auto-failed calls, every call; a link to the
calibration page when there are reviews."""
from __future__ import annotations

from reports import charts, stats
from reports.formatting import finite
from reports.pages import Site, report_page
from reports.pages.calibration import calibration_file


@report_page("overview", template="index.html", files="index.html", links=("agent", "call"), order=90)
def overview(site: Site, key: None) -> dict:
    data, team_rates = site.data, site.team_rates
    agents = []
    for agent in site.agents:
        ids = {c["call_id"] for c in site.calls_of(agent)}
        agents.append({"agent": agent, **stats.summary(site.calls_of(agent)), "weakest": stats.weakest(data, ids)})
    calibration_href = calibration_file(site)  # index.html is at the top, beside it
    return {
        "summary": stats.summary(data.calls), "agents": agents, "calls": data.calls,
        "auto_failed": [c for c in data.calls if c["auto_failed"]],
        "team_rates": team_rates, "criteria": data.criteria, "failures": data.failures,
        "rubric": data.rubric, "other_versions": data.other_versions, "filters": site.filters,
        # marked once reviews exist (before any, every criterion's agreement is unknown: one line says so)
        "needs_review": data.calibration.flagged if data.calibration and calibration_href else {},
        "calibration_href": calibration_href,
        "weekly_chart": charts.weekly_team(stats.weekly([c for c in data.calls if finite(c["score"])])),
        "criteria_chart": charts.criterion_bars(
            [(d["name"], team_rates.get(cid), None) for cid, d in data.criteria.items() if cid in team_rates],
            ("team", "")),
    }
