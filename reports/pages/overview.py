"""The team overview (index.html): figures, agents, criteria (once there are reviews, those below
the calibration gate marked "needs human review"), the latest auto-failed calls of each agent, the
team's latest calls; a link to the calibration page when there are reviews."""
from __future__ import annotations

from reports import charts
from reports.formatting import finite
from reports.pages import AUTO_FAILED_PER_AGENT, OVERVIEW_CALLS, Site, report_page
from reports.pages.calibration import calibration_file


@report_page("overview", template="index.html", files="index.html", links=("agent", "call"), order=90)
def overview(site: Site, key: None) -> dict:
    data, team_rates = site.data, site.team_rates
    agents = [{"agent": agent, **site.summary(agent), "weakest": site.weakest(agent)} for agent in site.agents]
    calibration_href = calibration_file(site)  # index.html is at the top, beside it
    summary = site.summary()
    return {
        "summary": summary, "agents": agents, "calls": site.overview_calls, "calls_cap": OVERVIEW_CALLS,
        "auto_failed": site.auto_failed, "auto_failed_cap": AUTO_FAILED_PER_AGENT,
        "team_rates": team_rates, "criteria": data.criteria, "failures": data.failures,
        "rubric": data.rubric, "other_versions": data.other_versions, "filters": site.filters,
        "all_calls": site.calls_mode == "all",
        # marked once reviews exist (before any, every criterion's agreement is unknown: one line says so)
        "needs_review": data.calibration.flagged if data.calibration and calibration_href else {},
        "calibration_href": calibration_href,
        "weekly_chart": charts.weekly_team([w for w in site.team_weeks if finite(w[1])]),
        "criteria_chart": charts.criterion_bars(
            [(d["name"], team_rates.get(cid), None) for cid, d in data.criteria.items() if cid in team_rates],
            ("team", "")),
    }
