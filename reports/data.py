"""Read what the reports show from the DuckDB file (read-only, parameterised queries)."""
from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb


class ReportError(Exception):
    """The database cannot be read for reporting."""


def page_slug(value: str) -> str:
    """A safe file name for an agent or call id (user data) that stays unique."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("._") or "x"
    if slug != value:
        slug += "-" + hashlib.sha1(value.encode()).hexdigest()[:6]
    return slug


@dataclass
class ReportData:
    calls: list[dict]
    results: dict[str, list[dict]]            # call_id -> criterion results (with evidence)
    turns: dict[str, list[dict]]              # call_id -> turns
    criteria: dict[str, dict]                 # criterion_id -> definition (latest rubric)
    failures: list[dict] = field(default_factory=list)


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def load(db: str | Path) -> ReportData:
    """Latest scorecard of every call, its results, evidence and turns."""
    db = Path(db)
    if not db.is_file():
        raise ReportError(f"{db}: database not found (score some calls first with `qa score`)")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise ReportError(f"{db}: cannot open database ({str(exc).splitlines()[0]})") from None
    try:
        calls = _rows(con, """
            SELECT c.call_id, c.file, c.agent, c.team, c.call_date, c.duration_s, c.language,
                   c.language_probability, c.channels, c.model, c.warnings,
                   s.rubric_hash, s.rubric_id, r.name AS rubric_name, s.score, s.passed,
                   s.auto_failed, s.pass_mark, s.flags, s.scored_at
            FROM calls c
            JOIN scorecards s USING (call_id)
            JOIN rubrics r USING (rubric_hash)
            QUALIFY row_number() OVER (PARTITION BY c.call_id ORDER BY s.scored_at DESC) = 1
            ORDER BY c.call_date NULLS LAST, c.call_id""")
        results = defaultdict(list)
        for row in _rows(con, """
            SELECT cr.*, d.coaching, d.position
            FROM criterion_results cr
            JOIN (SELECT call_id, rubric_hash FROM scorecards
                  QUALIFY row_number() OVER (PARTITION BY call_id ORDER BY scored_at DESC) = 1) latest
              USING (call_id, rubric_hash)
            LEFT JOIN criteria d USING (rubric_hash, criterion_id)
            ORDER BY cr.call_id, d.position"""):
            row["evidence"] = []
            results[row["call_id"]].append(row)
        by_key = {(r["call_id"], r["rubric_hash"], r["criterion_id"]): r for rs in results.values() for r in rs}
        for ev in _rows(con, "SELECT * FROM evidence ORDER BY call_id, criterion_id, evidence_index"):
            target = by_key.get((ev["call_id"], ev["rubric_hash"], ev["criterion_id"]))
            if target is not None:
                target["evidence"].append(ev)
        turns = defaultdict(list)
        for row in _rows(con, "SELECT call_id, turn_index, speaker, role, start_s, end_s, text FROM turns ORDER BY call_id, start_s"):
            turns[row["call_id"]].append(row)
        criteria = {}
        for row in _rows(con, """
            SELECT d.* FROM criteria d JOIN rubrics r USING (rubric_hash)
            ORDER BY r.stored_at, d.position"""):
            criteria[row["criterion_id"]] = row
        failures = _rows(con, "SELECT file, reason, failed_at FROM failures ORDER BY failed_at")
    except duckdb.Error as exc:
        raise ReportError(f"{db}: not a qa database ({str(exc).splitlines()[0]})") from None
    finally:
        con.close()
    for call in calls:
        call["warnings"] = json.loads(call["warnings"] or "[]")
        call["flags"] = json.loads(call["flags"] or "[]")
    return ReportData(calls=calls, results=dict(results), turns=dict(turns), criteria=criteria, failures=failures)
