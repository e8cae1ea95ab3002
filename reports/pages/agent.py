"""One coaching page per agent (agents/<agent>.html): what to coach first, with the agent's own
misses and a teammate's passing quote, score trend, criteria against the team, latest calls (every call with --calls all)."""
from __future__ import annotations

from reports import charts
from reports.pages import MISSES_SHOWN, Site, report_page


@report_page("agent", template="agent.html", files="agents/{slug}.html", links=("overview", "call"),
             keys=lambda site: site.agents, order=10)
def agent_page(site: Site, agent: str) -> dict:
    data, team_rates = site.data, site.team_rates
    own_rates = site.rates_of(agent)
    points, weekly = site.trend_points(agent)
    return {
        "agent": agent,
        # every call of the agent when every call has a page (--calls all), else the latest
        "calls": site.recent_calls(agent), "all_calls": site.calls_mode == "all",
        "summary": site.summary(agent), "own_rates": own_rates, "team_rates": team_rates,
        "criteria": data.criteria, "rubric": data.rubric, "misses_shown": MISSES_SHOWN,
        "priorities": site.priorities(agent),
        "trend_chart": charts.score_trend(points, site.pass_mark,
                                          f"{agent}: average score per week" if weekly else f"{agent}: score per call"),
        "criteria_chart": charts.criterion_bars(
            [(d["name"], own_rates.get(cid), team_rates.get(cid)) for cid, d in data.criteria.items()
             if cid in own_rates or cid in team_rates], (agent, "team")),
    }
