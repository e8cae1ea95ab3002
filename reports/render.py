"""Render the HTML reports (Jinja2, autoescaped) from the database."""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
from datetime import date
from pathlib import Path

from jinja2 import Environment, PackageLoader

from reports import charts, stats
from reports.data import ReportData, ReportError, ReportFilters, load, page_slug

UNKNOWN_AGENT = "(unknown)"
MANIFEST = ".callqa-report.json"
# Files an operating system drops into folders it shows; they do not make a folder someone else's.
OS_LITTER = {".DS_Store", "Thumbs.db", "desktop.ini"}


def _finite(value) -> bool:
    """A number a page can show and link to (imports may hold Infinity or NaN)."""
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if not _finite(seconds):
        return "–"
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _number(value: float | None, spec: str = "%.0f") -> str:
    """`spec` % value, or a dash for a missing or non-finite value."""
    return spec % float(value) if _finite(value) else "–"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def environment() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = _clock
    env.filters["percent"] = _percent
    env.filters["slug"] = page_slug
    env.filters["number"] = _number
    env.tests["finite"] = _finite
    return env


def _audio_href(file: str, page_dir: Path) -> str:
    """Relative link from a page to the recording, so the folder works from a file share."""
    try:
        target = Path(file).resolve()
    except (OSError, ValueError):  # a file name the file system cannot hold
        return ""
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


def _write_pages(data: ReportData, filters: ReportFilters, folder: Path) -> list[str]:
    """Write index.html, agents/<agent>.html and calls/<call>.html into `folder`; return their
    names relative to it."""
    (folder / "agents").mkdir()
    (folder / "calls").mkdir()
    env = environment()
    pass_mark = data.calls[0]["pass_mark"] if data.calls else 0.0
    team_rates = stats.pass_rates(data)
    written: list[str] = []
    seen: set[str] = set()

    def write(name: str, html: str) -> None:
        if name in seen:  # two ids with one page name: never overwrite a page silently
            raise ReportError(f"{name}: two agents or calls share this page name")
        (folder / name).write_text(html, encoding="utf-8")
        written.append(name)
        seen.add(name)

    agent_rows = []
    agent_template = env.get_template("agent.html")
    for agent in sorted({_agent_of(c) for c in data.calls}):
        calls = [c for c in data.calls if _agent_of(c) == agent]
        ids = {c["call_id"] for c in calls}
        own_rates = stats.pass_rates(data, ids)
        summary = stats.summary(calls)
        agent_rows.append({"agent": agent, **summary, "weakest": stats.weakest(data, ids)})
        write(f"agents/{page_slug(agent)}.html", agent_template.render(
            agent=agent, calls=sorted(calls, key=lambda c: (c["call_date"] is None, c["call_date"], c["call_id"]), reverse=True),
            summary=summary, own_rates=own_rates, team_rates=team_rates, criteria=data.criteria,
            priorities=stats.coaching_priorities(data, ids, team_rates), rubric=data.rubric,
            trend_chart=charts.score_trend([(c["call_date"], c["score"], bool(c["passed"])) for c in calls
                                            if c["call_date"] and _finite(c["score"])], pass_mark, f"{agent}: score per call"),
            criteria_chart=charts.criterion_bars(
                [(d["name"], own_rates.get(cid), team_rates.get(cid)) for cid, d in data.criteria.items()
                 if cid in own_rates or cid in team_rates], (agent, "team")),
        ))
    call_template = env.get_template("call.html")
    for call in data.calls:
        write(f"calls/{page_slug(call['call_id'])}.html", call_template.render(
            call=call, audio_href=_audio_href(call["file"], folder / "calls"), **_call_view(data, call)))
    write("index.html", env.get_template("index.html").render(
        summary=stats.summary(data.calls), agents=agent_rows, calls=data.calls,
        auto_failed=[c for c in data.calls if c["auto_failed"]],
        team_rates=team_rates, criteria=data.criteria, failures=data.failures,
        rubric=data.rubric, other_versions=data.other_versions, filters=filters,
        weekly_chart=charts.weekly_team(stats.weekly([c for c in data.calls if _finite(c["score"])])),
        criteria_chart=charts.criterion_bars(
            [(d["name"], team_rates.get(cid), None) for cid, d in data.criteria.items() if cid in team_rates],
            ("team", "")),
    ))
    return written


# --- the report folder: written beside --out, then swapped in ---------------------------------

def _filters_to_json(filters: ReportFilters) -> dict:
    return {"rubric": filters.rubric, "since": filters.since and filters.since.isoformat(),
            "until": filters.until and filters.until.isoformat(),
            "agents": list(filters.agents), "teams": list(filters.teams)}


def _filters_from_json(value) -> ReportFilters | None:
    def day(text) -> date | None:
        return None if text is None else date.fromisoformat(text)

    try:
        filters = ReportFilters(rubric=value["rubric"], since=day(value["since"]), until=day(value["until"]),
                                agents=list(value["agents"]), teams=list(value["teams"]))
    except (KeyError, TypeError, ValueError):
        return None
    texts = [t for t in [filters.rubric] if t is not None] + filters.agents + filters.teams
    return filters if all(isinstance(t, str) for t in texts) else None


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest `qa report` leaves in a folder it wrote (filters and pages), or None."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if (not isinstance(manifest, dict) or manifest.get("tool") != "callqa report"
            or not isinstance(manifest.get("pages"), list) or not all(isinstance(p, str) for p in manifest["pages"])
            or _filters_from_json(manifest.get("filters")) is None):
        return None
    return manifest


def _is_legacy_report(names: list[str]) -> bool:
    """A folder written before reports had a manifest: index.html, agents/*.html, calls/*.html only."""
    return {"index.html", "agents/", "calls/"} <= set(names) and all(
        n in ("index.html", "agents/", "calls/") or re.fullmatch(r"(agents|calls)/[^/]+\.html", n) for n in names)


def _foreign(folder: Path) -> list[str]:
    """Names under an existing folder that no report of ours wrote (empty: the folder may be replaced)."""
    names = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        names += [(rel / d).as_posix() + "/" for d in dirs]
        names += [(rel / f).as_posix() for f in files if f not in OS_LITTER]
    manifest = read_manifest(folder)
    if manifest is None:
        return [] if not names or _is_legacy_report(names) else sorted(names)
    known = {MANIFEST, "agents/", "calls/", *manifest["pages"]}
    return sorted(n for n in names if n not in known)


def _check_target(out: Path, shown: Path) -> None:
    """Refuse, with one line, an --out that is a file or a folder holding files we did not write."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ReportError(f"{shown}: exists and is not a folder (choose another --out)")
    if out.is_dir():
        try:
            foreign = _foreign(out)
        except OSError as exc:
            raise ReportError(f"{shown}: cannot read the folder ({exc.strerror or exc})") from None
        if foreign:
            listed = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            raise ReportError(f"{shown}: folder holds files that are not part of a qa report ({listed}); "
                              "choose another --out, or move them")


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell cheaply: keep the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_leftovers(out: Path) -> None:
    """Staging and old folders of reports that were killed before they finished."""
    pattern = re.compile(re.escape(f".{out.name}.callqa-") + r"(?:old-)?(\d+)-[0-9a-f]{8}")
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return
    for path in siblings:
        match = pattern.fullmatch(path.name)
        if match and path.is_dir() and not path.is_symlink() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _sibling(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.callqa-{kind}{os.getpid()}-{secrets.token_hex(4)}"


def _swap(staging: Path, out: Path) -> None:
    """Put the finished folder in place of `out`; the old report is removed only once the new one is there."""
    if not out.exists():
        os.rename(staging, out)
        return
    old = _sibling(out, "old-")
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def render_reports(db: str | Path, out: str | Path, filters: ReportFilters | None = None,
                   missing_rubric_ok: bool = False) -> list[Path]:
    """Write the report site (index.html, agents/<agent>.html, calls/<call>.html and the manifest
    .callqa-report.json) as `out`; return the paths of the pages.

    The site is written into a new folder beside `out` and then swapped in, so an interrupted
    report leaves the previous one intact and pages of calls no longer reported disappear.
    An `out` that is a file, or a folder holding files no report of ours wrote, is refused."""
    filters = filters or ReportFilters()
    shown = Path(out)
    out = Path(os.path.realpath(shown))  # a link to a folder: the folder it points to is replaced
    if out.parent == out:
        raise ReportError(f"{shown}: cannot be the report folder (choose another --out)")
    _check_target(out, shown)
    data = load(db, filters, missing_rubric_ok)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{shown}: cannot create the folder ({exc.strerror or exc})") from None
    _remove_leftovers(out)
    staging = _sibling(out, "")
    try:
        staging.mkdir()
        pages = _write_pages(data, filters, staging)
        manifest = {"tool": "callqa report", "version": 1, "filters": _filters_to_json(filters), "pages": pages}
        (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _check_target(out, shown)  # again: another program may have written there meanwhile
        _swap(staging, out)
    except OSError as exc:
        raise ReportError(f"{shown}: cannot write the report ({exc.strerror or exc})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [shown / name for name in pages]


def rerender(db: Path, out: Path) -> list[Path] | None:
    """Render the report folder `out` again from `db` with the filters recorded in its manifest,
    so pages of calls and agents no longer in the database disappear; return the pages, or None
    when `out` is not a report folder written by `qa report`. Raises ReportError (one line) when
    the database cannot be read or the folder now holds files that are not ours."""
    manifest = read_manifest(out) if Path(out).is_dir() else None
    if manifest is None:
        return None
    return render_reports(db, out, _filters_from_json(manifest["filters"]), missing_rubric_ok=True)


__all__ = ["render_reports", "rerender", "read_manifest", "ReportFilters", "MANIFEST"]
