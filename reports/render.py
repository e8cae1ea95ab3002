"""Render the HTML reports (Jinja2, autoescaped) from the database."""
from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, PackageLoader

from reports import charts, stats
from reports.data import ReportData, ReportFilters, load, page_slug

UNKNOWN_AGENT = "(unknown)"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def environment() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = _clock
    env.filters["percent"] = _percent
    env.filters["slug"] = page_slug
    return env


def _audio_href(file: str, page_dir: Path) -> str:
    """Relative link from a page to the recording, so the folder works from a file share."""
    target = Path(file).resolve()
    try:
        return Path(os.path.relpath(target, page_dir.resolve())).as_posix()
    except ValueError:
        return target.as_uri()


def _agent_of(call: dict) -> str:
    return call["agent"] or UNKNOWN_AGENT


def _call_view(data: ReportData, call: dict) -> dict:
    """What a call page shows: results, section scores, transcript with evidence highlighted."""
    results = data.results.get(call["call_id"], [])
    quotes = [dict(e, criterion_name=r["name"]) for r in results for e in r["evidence"] if e["kind"] == "quote"]
    turns = []
    for turn in data.turns.get(call["call_id"], []):
        own = [q for q in quotes if q["start_s"] < turn["end_s"] + 0.01 and q["end_s"] > turn["start_s"] - 0.01]
        turns.append(dict(turn, pieces=stats.highlighted(turn["text"], own)))
    return {"results": results, "sections": data.sections.get(call["call_id"], []), "turns": turns}


def render_reports(db: str | Path, out: str | Path, filters: ReportFilters | None = None) -> list[Path]:
    """Write index.html, agents/<agent>.html and calls/<call>.html under `out`; return the paths."""
    data = load(db, filters)
    out = Path(out)
    (out / "agents").mkdir(parents=True, exist_ok=True)
    (out / "calls").mkdir(parents=True, exist_ok=True)
    env = environment()
    pass_mark = data.calls[0]["pass_mark"] if data.calls else 0.0
    team_rates = stats.pass_rates(data)
    written: list[Path] = []
    agent_rows = []
    agent_template = env.get_template("agent.html")
    for agent in sorted({_agent_of(c) for c in data.calls}):
        calls = [c for c in data.calls if _agent_of(c) == agent]
        ids = {c["call_id"] for c in calls}
        own_rates = stats.pass_rates(data, ids)
        summary = stats.summary(calls)
        agent_rows.append({"agent": agent, **summary, "weakest": stats.weakest(data, ids)})
        path = out / "agents" / f"{page_slug(agent)}.html"
        path.write_text(agent_template.render(
            agent=agent, calls=sorted(calls, key=lambda c: (c["call_date"] is None, c["call_date"], c["call_id"]), reverse=True),
            summary=summary, own_rates=own_rates, team_rates=team_rates, criteria=data.criteria,
            priorities=stats.coaching_priorities(data, ids, team_rates), rubric=data.rubric,
            trend_chart=charts.score_trend([(c["call_date"], c["score"], bool(c["passed"])) for c in calls
                                            if c["call_date"]], pass_mark, f"{agent}: score per call"),
            criteria_chart=charts.criterion_bars(
                [(d["name"], own_rates.get(cid), team_rates.get(cid)) for cid, d in data.criteria.items()
                 if cid in own_rates or cid in team_rates], (agent, "team")),
        ), encoding="utf-8")
        written.append(path)
    call_template = env.get_template("call.html")
    for call in data.calls:
        path = out / "calls" / f"{page_slug(call['call_id'])}.html"
        path.write_text(call_template.render(call=call, audio_href=_audio_href(call["file"], path.parent),
                                             **_call_view(data, call)), encoding="utf-8")
        written.append(path)
    index = out / "index.html"
    index.write_text(env.get_template("index.html").render(
        summary=stats.summary(data.calls), agents=agent_rows, calls=data.calls,
        auto_failed=[c for c in data.calls if c["auto_failed"]],
        team_rates=team_rates, criteria=data.criteria, failures=data.failures,
        rubric=data.rubric, other_versions=data.other_versions, filters=filters or ReportFilters(),
        weekly_chart=charts.weekly_team(stats.weekly(data.calls)),
        criteria_chart=charts.criterion_bars(
            [(d["name"], team_rates.get(cid), None) for cid, d in data.criteria.items() if cid in team_rates],
            ("team", "")),
    ), encoding="utf-8")
    written.append(index)
    return written


__all__ = ["render_reports", "ReportFilters"]
