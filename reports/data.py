"""Read what the reports show from the DuckDB file (read-only, parameterised queries)."""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from qa.store import Store, StoreError


class ReportError(Exception):
    """The database cannot be read for reporting."""


SLUG_CHARS = 60
_PLAIN_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def page_slug(value: str) -> str:
    """A file name for an agent or call id (user data): short, inside its folder, and distinct
    for distinct ids on any file system, case-insensitive ones included.

    A plain lower-case id of at most 60 characters is its own name ("alice", "c1"); any other id
    gets a lower-cased slug cut to 60 characters plus "--" and a hash of the exact id
    ("A1" -> "a1--<hash>"). Plain names never contain "--", so the two kinds never meet."""
    value = str(value)
    if (len(value) <= SLUG_CHARS and _PLAIN_NAME.fullmatch(value)
            and value.split(".")[0] not in _WINDOWS_RESERVED):
        return value
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text)[:SLUG_CHARS].strip("_") or "x"
    return f"{slug}--{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


@dataclass
class ReportFilters:
    """Which scorecards a report covers. `rubric` is a rubric id or a version-hash prefix;
    by default the version most recently used, so every figure compares like with like."""

    rubric: str | None = None
    since: date | None = None
    until: date | None = None
    agents: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)


@dataclass
class ReportData:
    calls: list[dict]
    results: dict[str, list[dict]]            # call_id -> criterion results (with evidence)
    turns: dict[str, list[dict]]              # call_id -> turns
    criteria: dict[str, dict]                 # criterion_id -> definition in this rubric version
    sections: dict[str, list[dict]] = field(default_factory=dict)  # call_id -> section scores
    rubric: dict = field(default_factory=dict)  # the version reported: rubric_hash, rubric_id, name
    other_versions: int = 0                   # calls scored only with other versions
    failures: list[dict] = field(default_factory=list)


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _pick_rubric(con, wanted: str | None) -> dict | None:
    rows = _rows(con, """
        SELECT r.rubric_hash, r.rubric_id, r.name, max(s.scored_at) AS last_used
        FROM rubrics r JOIN scorecards s USING (rubric_hash)
        WHERE ? IS NULL OR r.rubric_id = ? OR starts_with(r.rubric_hash, ?)
        GROUP BY ALL ORDER BY last_used DESC LIMIT 1""", [wanted, wanted, wanted])
    return rows[0] if rows else None


def load(db: str | Path, filters: ReportFilters | None = None, missing_rubric_ok: bool = False) -> ReportData:
    """Scorecards of one rubric version (with filters), their results, evidence and turns.

    A rubric named in the filters that has no scorecards is a fault, unless `missing_rubric_ok`
    (re-rendering a report after its calls were forgotten): then the report is empty."""
    filters = filters or ReportFilters()
    db = Path(db)
    if not db.is_file():
        raise ReportError(f"{db}: database not found (score some calls first with `qa score`)")
    try:  # through the store, which brings an older database up to the current schema first
        store = Store(db, read_only=True)
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    con = store.con
    try:
        rubric = _pick_rubric(con, filters.rubric)
        if rubric is None:
            if filters.rubric and not missing_rubric_ok:
                raise ReportError(f"{db}: no scorecards for rubric '{filters.rubric}'")
            rubric = {"rubric_hash": "", "rubric_id": filters.rubric or "", "name": ""}
        version = rubric["rubric_hash"]
        calls = _rows(con, """
            SELECT c.call_id, c.file, c.agent, c.team, c.call_date, c.duration_s, c.language,
                   c.language_probability, c.channels, c.model, c.warnings, c.redactions,
                   c.speakers, c.agent_speaker, c.role_method, c.role_confidence, c.role_detail,
                   s.rubric_hash, s.rubric_id, ? AS rubric_name, s.score, s.passed,
                   s.auto_failed, s.pass_mark, s.flags, s.metrics, s.scored_at
            FROM calls c JOIN scorecards s USING (call_id)
            WHERE s.rubric_hash = ?
              AND (?::DATE IS NULL OR c.call_date >= ?::DATE)
              AND (?::DATE IS NULL OR c.call_date <= ?::DATE)
              AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], c.agent))
              AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], c.team))
            ORDER BY c.call_date NULLS LAST, c.call_id""",
            [rubric["name"], version, filters.since, filters.since, filters.until, filters.until,
             filters.agents, filters.agents, filters.teams, filters.teams])
        ids = [c["call_id"] for c in calls]
        results = defaultdict(list)
        for row in _rows(con, """
            SELECT cr.*, d.coaching, d.position
            FROM criterion_results cr LEFT JOIN criteria d USING (rubric_hash, criterion_id)
            WHERE cr.rubric_hash = ? AND list_contains(?, cr.call_id)
            ORDER BY cr.call_id, d.position""", [version, ids]):
            row["evidence"] = []
            results[row["call_id"]].append(row)
        by_key = {(r["call_id"], r["criterion_id"]): r for rs in results.values() for r in rs}
        for ev in _rows(con, "SELECT * FROM evidence WHERE rubric_hash = ? AND list_contains(?, call_id) "
                             "ORDER BY call_id, criterion_id, evidence_index", [version, ids]):
            target = by_key.get((ev["call_id"], ev["criterion_id"]))
            if target is not None:
                target["evidence"].append(ev)
        turns = defaultdict(list)
        for row in _rows(con, "SELECT call_id, turn_index, speaker, role, start_s, end_s, text FROM turns "
                              "WHERE list_contains(?, call_id) ORDER BY call_id, start_s", [ids]):
            turns[row["call_id"]].append(row)
        sections = defaultdict(list)
        for row in _rows(con, "SELECT * FROM section_scores WHERE rubric_hash = ? AND list_contains(?, call_id) "
                              "ORDER BY call_id", [version, ids]):
            sections[row["call_id"]].append(row)
        criteria = {row["criterion_id"]: row for row in _rows(
            con, "SELECT * FROM criteria WHERE rubric_hash = ? ORDER BY position", [version])}
        other_versions = con.execute(
            "SELECT count(DISTINCT call_id) FROM scorecards WHERE call_id NOT IN "
            "(SELECT call_id FROM scorecards WHERE rubric_hash = ?)", [version]).fetchone()[0]
        failures = _rows(con, "SELECT file, reason, failed_at FROM failures ORDER BY failed_at")
    except duckdb.Error as exc:
        raise ReportError(f"{db}: not a qa database ({str(exc).splitlines()[0]})") from None
    finally:
        con.close()
    for call in calls:
        call["warnings"] = json.loads(call["warnings"] or "[]")
        call["flags"] = json.loads(call["flags"] or "[]")
        call["metrics"] = json.loads(call["metrics"] or "null")
        call["redactions"] = json.loads(call["redactions"] or "null")
    return ReportData(calls=calls, results=dict(results), turns=dict(turns), criteria=criteria,
                      sections=dict(sections), rubric=rubric, other_versions=other_versions, failures=failures)
