"""Render the HTML reports (Jinja2, autoescaped) from the database."""
from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, PackageLoader

from reports import stats
from reports.data import ReportData, ReportFilters, load, page_slug


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


def render_reports(db: str | Path, out: str | Path, filters: ReportFilters | None = None) -> list[Path]:
    """Write index.html, agents/<agent>.html and calls/<call>.html under `out`; return the paths."""
    data = load(db, filters)
    out = Path(out)
    (out / "agents").mkdir(parents=True, exist_ok=True)
    (out / "calls").mkdir(parents=True, exist_ok=True)
    env = environment()
    team_rates = stats.pass_rates(data)
    agents = sorted({c["agent"] or "(unknown)" for c in data.calls})
    agent_rows = []
    written: list[Path] = []
    for agent in agents:
        calls = [c for c in data.calls if (c["agent"] or "(unknown)") == agent]
        ids = {c["call_id"] for c in calls}
        own_rates = stats.pass_rates(data, ids)
        priorities = stats.coaching_priorities(data, ids, team_rates)
        agent_rows.append({"agent": agent, **stats.summary(calls),
                           "weakest": priorities[0]["name"] if priorities else "–"})
        path = out / "agents" / f"{page_slug(agent)}.html"
        path.write_text(env.get_template("agent.html").render(
            agent=agent, calls=calls, summary=stats.summary(calls), own_rates=own_rates,
            team_rates=team_rates, criteria=data.criteria, priorities=priorities,
        ), encoding="utf-8")
        written.append(path)
    for call in data.calls:
        path = out / "calls" / f"{page_slug(call['call_id'])}.html"
        path.write_text(env.get_template("call.html").render(
            call=call, results=data.results.get(call["call_id"], []),
            turns=data.turns.get(call["call_id"], []),
            audio_href=_audio_href(call["file"], path.parent),
        ), encoding="utf-8")
        written.append(path)
    index = out / "index.html"
    index.write_text(env.get_template("index.html").render(
        summary=stats.summary(data.calls), agents=agent_rows, calls=data.calls,
        team_rates=team_rates, criteria=data.criteria, failures=data.failures,
        rubric=data.rubric, other_versions=data.other_versions, filters=filters or ReportFilters(),
    ), encoding="utf-8")
    written.append(index)
    return written


__all__ = ["render_reports", "ReportData"]
