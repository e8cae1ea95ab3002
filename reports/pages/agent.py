"""One coaching page per agent (agents/<agent>.html): what to coach first, with the agent's own
misses and a teammate's passing quote, score trend, criteria against the team, recent calls."""
from __future__ import annotations

from reports import charts, stats
from reports.formatting import finite
from reports.pages import Site, report_page


@report_page("agent", template="agent.html", files="agents/{slug}.html", links=("overview", "call"),
             keys=lambda site: site.agents, order=10)
def agent_page(site: Site, agent: str) -> dict:
    data, team_rates = site.data, site.team_rates
    calls = site.calls_of(agent)
    ids = {c["call_id"] for c in calls}
    own_rates = stats.pass_rates(data, ids)
    return {
        "agent": agent,
        "calls": sorted(calls, key=lambda c: (c["call_date"] is None, c["call_date"], c["call_id"]), reverse=True),
        "summary": stats.summary(calls), "own_rates": own_rates, "team_rates": team_rates,
        "criteria": data.criteria, "rubric": data.rubric,
        "priorities": stats.coaching_priorities(data, ids, team_rates),
        "trend_chart": charts.score_trend([(c["call_date"], c["score"], bool(c["passed"])) for c in calls
                                           if c["call_date"] and finite(c["score"])],
                                          site.pass_mark, f"{agent}: score per call"),
        "criteria_chart": charts.criterion_bars(
            [(d["name"], own_rates.get(cid), team_rates.get(cid)) for cid, d in data.criteria.items()
             if cid in own_rates or cid in team_rates], (agent, "team")),
    }
