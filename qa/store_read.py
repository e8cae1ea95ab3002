"""The store's read model: what the reports and the table exports read from the database.

`qa.store.Store` inherits `ReadModel`, so these are methods of the store; with qa/store.py this
is the only code that names tables and columns. Every query takes its values as parameters.
Rows come back as dicts shaped by the TypedDicts below, with JSON columns decoded; they are the
rows `reports.data.ReportData` carries.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypedDict

import duckdb

from qa_types import CallMetrics

# A CSV cell a spreadsheet would run as a formula (=HYPERLINK(...), +SUM(...), @SUM(...), -..., or
# one after a tab or carriage return) is written with a leading single quote, as OWASP advises.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

METRIC_PREFIX = "metric_"  # scorecards export: one column metric_<name> per metric (see metric_column)


class RubricVersion(TypedDict):
    rubric_hash: str
    rubric_id: str
    name: str | None
    last_used: datetime


class ReportCall(TypedDict):
    """A call with its scorecard for one rubric version (JSON columns decoded)."""

    call_id: str
    file: str
    agent: str | None
    team: str | None
    call_date: date | None
    duration_s: float | None
    language: str | None
    language_probability: float | None
    channels: int | None
    model: str | None
    warnings: list[str]
    redactions: dict[str, int] | None     # None: stored without redaction
    speakers: int | None
    agent_speaker: str | None
    role_method: str | None
    role_confidence: float | None
    role_detail: str | None
    rubric_hash: str
    rubric_id: str | None
    rubric_name: str | None
    score: float | None
    passed: bool | None
    auto_failed: bool | None
    pass_mark: float | None
    flags: list[str]
    metrics: dict[str, Any] | None        # qa_types.CallMetrics as plain JSON values
    scored_at: datetime | None
    machine_score: float | None           # the machine's score; `score` is the final one (with reviews)
    reviewed: int                         # criteria answered by a reviewer


class EvidenceRow(TypedDict):
    call_id: str
    rubric_hash: str
    criterion_id: str
    evidence_index: int
    kind: str | None
    quote: str | None
    role: str | None
    start_s: float | None
    end_s: float | None


class CriterionResultRow(TypedDict):
    """One criterion's result in a scorecard, with its definition's coaching text and position."""

    call_id: str
    rubric_hash: str
    section_id: str | None
    criterion_id: str
    name: str | None
    outcome: str | None
    points_awarded: float | None
    points_possible: float | None
    critical: str | None
    note: str | None
    coaching: str | None
    position: int | None
    evidence: list[EvidenceRow]
    machine_outcome: str | None           # the machine's answer; `outcome` is the final one
    review_id: int | None                 # the review giving the final answer (None: the machine's)


class SectionScoreRow(TypedDict):
    call_id: str
    rubric_hash: str
    section_id: str
    name: str | None
    weight: float | None
    points_awarded: float | None
    points_possible: float | None


class TurnRow(TypedDict):
    call_id: str
    turn_index: int
    speaker: str | None
    role: str | None
    start_s: float | None
    end_s: float | None
    text: str | None


class CriterionRow(TypedDict):
    """A criterion as defined in one rubric version."""

    rubric_hash: str
    position: int | None
    section_id: str | None
    section_name: str | None
    criterion_id: str
    name: str | None
    points: float | None
    critical: str | None
    coaching: str | None


class TableFormatSpec(Protocol):
    """What `ReadModel.export_tables` needs of a table format (see qa.export.TableFormat)."""

    name: str             # also the file extension: scorecards.<name>
    copy_options: str     # DuckDB COPY options, e.g. "FORMAT csv, HEADER true"
    quote_formulas: bool  # text cells that would start a spreadsheet formula get a leading '


class MetricSpec(Protocol):
    """What the scorecards export needs of a registered metric (see scoring.metrics)."""

    name: str

    def value(self, call_metrics: CallMetrics) -> float | None: ...


# The table exports: name -> query. The scorecards export also gets the metric columns.
_EXPORTS = {
    "scorecards": """
        SELECT s.call_id, c.agent, c.team, c.call_date, c.language, c.duration_s, s.rubric_id, s.rubric_hash,
               coalesce(f.score, s.score) AS score, coalesce(f.passed, s.passed) AS passed,
               coalesce(f.auto_failed, s.auto_failed) AS auto_failed, s.pass_mark,
               coalesce(f.flags, s.flags) AS flags, s.scored_at, s.score AS machine_score,
               coalesce(f.reviewed, 0) AS reviewed_criteria{metric_columns}
        FROM scorecards s JOIN calls c USING (call_id)
        LEFT JOIN final_scorecards f ON f.call_id = s.call_id AND f.rubric_hash = s.rubric_hash{metric_join}
        ORDER BY s.call_id, s.scored_at""",
    "criterion_results": """
        SELECT r.call_id, c.agent, c.call_date, r.rubric_hash, r.section_id, r.criterion_id, r.name,
               coalesce(f.outcome, r.outcome) AS outcome, coalesce(f.points_awarded, r.points_awarded) AS points_awarded,
               coalesce(f.points_possible, r.points_possible) AS points_possible, r.critical, r.note,
               e.quote AS first_evidence, e.start_s AS evidence_start_s, e.end_s AS evidence_end_s,
               r.outcome AS machine_outcome, f.review_id IS NOT NULL AS reviewed
        FROM criterion_results r JOIN calls c USING (call_id)
        LEFT JOIN final_results f ON f.call_id = r.call_id AND f.rubric_hash = r.rubric_hash
             AND f.criterion_id = r.criterion_id
        LEFT JOIN evidence e ON e.call_id = r.call_id AND e.rubric_hash = r.rubric_hash
             AND e.criterion_id = r.criterion_id AND e.evidence_index = 0
        ORDER BY r.call_id, r.rubric_hash, r.criterion_id""",
}
_METRICS_TABLE = "callqa_export_metrics"  # a TEMP table, only for the length of one export
_SCOPE = "temp.main.callqa_report_scope"   # a TEMP table: the calls one report covers (open_report_scope)
_VERSION = "getvariable('callqa_report_version')"  # their rubric version, set by open_report_scope


class ReadModel:
    """Read methods of `qa.store.Store` for reports and exports (`self.con` is the store's
    connection, read-only or not)."""

    con: duckdb.DuckDBPyConnection

    # Every read fetches its whole result (fetchall, never fetchone): DuckDB refuses other work on
    # a connection that holds an unfinished result (registering a frame to insert, for one).

    def _rows(self, sql: str, params: list | None = None) -> list[dict]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    # -- reports -----------------------------------------------------------------------

    def rubric_version(self, wanted: str | None = None) -> RubricVersion | None:
        """The rubric version most recently used to score a call, among those whose id is
        `wanted` or whose hash starts with it (any version when `wanted` is None)."""
        rows = self._rows("""
            SELECT r.rubric_hash, r.rubric_id, r.name, max(s.scored_at) AS last_used
            FROM rubrics r JOIN scorecards s USING (rubric_hash)
            WHERE ? IS NULL OR r.rubric_id = ? OR starts_with(r.rubric_hash, ?)
            GROUP BY ALL ORDER BY last_used DESC LIMIT 1""", [wanted, wanted, wanted])
        return rows[0] if rows else None

    def report_calls(self, rubric_hash: str, since: date | None = None, until: date | None = None,
                     agents: Sequence[str] = (), teams: Sequence[str] = (),
                     call_ids: Sequence[str] | None = None) -> list[ReportCall]:
        """Calls scored with this rubric version, within the dates (inclusive) and among the
        agents and teams given (all when empty), and among `call_ids` when given, by date
        (undated last) then id."""
        calls = self._rows("""
            SELECT c.call_id, c.file, c.agent, c.team, c.call_date, c.duration_s, c.language,
                   c.language_probability, c.channels, c.model, c.warnings, c.redactions,
                   c.speakers, c.agent_speaker, c.role_method, c.role_confidence, c.role_detail,
                   s.rubric_hash, s.rubric_id, r.name AS rubric_name, coalesce(f.score, s.score) AS score,
                   coalesce(f.passed, s.passed) AS passed, coalesce(f.auto_failed, s.auto_failed) AS auto_failed,
                   s.pass_mark, coalesce(f.flags, s.flags) AS flags, s.metrics, s.scored_at,
                   s.score AS machine_score, coalesce(f.reviewed, 0) AS reviewed
            FROM calls c JOIN scorecards s USING (call_id) LEFT JOIN rubrics r ON r.rubric_hash = s.rubric_hash
            LEFT JOIN final_scorecards f ON f.call_id = s.call_id AND f.rubric_hash = s.rubric_hash
            WHERE s.rubric_hash = ?
              AND (?::DATE IS NULL OR c.call_date >= ?::DATE)
              AND (?::DATE IS NULL OR c.call_date <= ?::DATE)
              AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], c.agent))
              AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], c.team))
              AND (?::VARCHAR[] IS NULL OR c.call_id IN (SELECT unnest(?::VARCHAR[])))
            ORDER BY c.call_date NULLS LAST, c.call_id""",
            [rubric_hash, since, since, until, until, list(agents), list(agents), list(teams), list(teams),
             None if call_ids is None else list(call_ids), None if call_ids is None else list(call_ids)])
        for call in calls:
            call["warnings"] = json.loads(call["warnings"] or "[]")
            call["flags"] = json.loads(call["flags"] or "[]")
            call["metrics"] = json.loads(call["metrics"] or "null")
            call["redactions"] = json.loads(call["redactions"] or "null")
        return calls

    def criterion_results(self, rubric_hash: str, call_ids: Sequence[str]) -> dict[str, list[CriterionResultRow]]:
        """call_id -> its criterion results for this rubric version in rubric order, each with its
        evidence in order (only calls that have results are keys)."""
        results: dict[str, list[dict]] = {}
        for row in self._rows("""
                SELECT cr.call_id, cr.rubric_hash, cr.section_id, cr.criterion_id, cr.name,
                       coalesce(f.outcome, cr.outcome) AS outcome,
                       coalesce(f.points_awarded, cr.points_awarded) AS points_awarded,
                       coalesce(f.points_possible, cr.points_possible) AS points_possible,
                       cr.critical, cr.note, d.coaching, d.position, cr.outcome AS machine_outcome, f.review_id
                FROM criterion_results cr LEFT JOIN criteria d USING (rubric_hash, criterion_id)
                LEFT JOIN final_results f USING (call_id, rubric_hash, criterion_id)
                WHERE cr.rubric_hash = ? AND cr.call_id IN (SELECT unnest(?::VARCHAR[]))
                ORDER BY cr.call_id, d.position""", [rubric_hash, list(call_ids)]):
            row["evidence"] = []
            results.setdefault(row["call_id"], []).append(row)
        by_key = {(r["call_id"], r["criterion_id"]): r for rows in results.values() for r in rows}
        for ev in self._rows("""
                SELECT call_id, rubric_hash, criterion_id, evidence_index, kind, quote, role, start_s, end_s
                FROM evidence WHERE rubric_hash = ? AND call_id IN (SELECT unnest(?::VARCHAR[]))
                ORDER BY call_id, criterion_id, evidence_index""", [rubric_hash, list(call_ids)]):
            target = by_key.get((ev["call_id"], ev["criterion_id"]))
            if target is not None:
                target["evidence"].append(ev)
        return results

    def section_scores(self, rubric_hash: str, call_ids: Sequence[str]) -> dict[str, list[SectionScoreRow]]:
        """call_id -> its section scores for this rubric version (only calls that have some)."""
        sections: dict[str, list[dict]] = {}
        for row in self._rows("""
                SELECT call_id, rubric_hash, section_id, s.name, s.weight,
                       coalesce(f.points_awarded, s.points_awarded) AS points_awarded,
                       coalesce(f.points_possible, s.points_possible) AS points_possible
                FROM section_scores s LEFT JOIN final_sections f USING (call_id, rubric_hash, section_id)
                WHERE rubric_hash = ? AND call_id IN (SELECT unnest(?::VARCHAR[]))
                ORDER BY call_id""", [rubric_hash, list(call_ids)]):
            sections.setdefault(row["call_id"], []).append(row)
        return sections

    def turn_rows(self, call_ids: Sequence[str]) -> dict[str, list[TurnRow]]:
        """call_id -> its turns in time order, without word timings (only calls that have turns)."""
        turns: dict[str, list[dict]] = {}
        for row in self._rows("""
                SELECT call_id, turn_index, speaker, role, start_s, end_s, text FROM turns
                WHERE call_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY call_id, start_s""", [list(call_ids)]):
            turns.setdefault(row["call_id"], []).append(row)
        return turns

    def criteria(self, rubric_hash: str) -> dict[str, CriterionRow]:
        """criterion_id -> its definition in this rubric version, in rubric order."""
        return {row["criterion_id"]: row for row in self._rows("""
            SELECT rubric_hash, position, section_id, section_name, criterion_id, name, points, critical, coaching
            FROM criteria WHERE rubric_hash = ? ORDER BY position""", [rubric_hash])}

    # -- report aggregates: computed in DuckDB over the calls one report covers ---------
    #
    # `open_report_scope` puts the covered calls (one rubric version, the report's filters) in a
    # TEMP table of this connection, one row per call with its final score; the methods below
    # aggregate over it, so a report never holds every call, result or turn in Python.

    def open_report_scope(self, rubric_hash: str, unknown_agent: str, since: date | None = None,
                          until: date | None = None, agents: Sequence[str] = (), teams: Sequence[str] = (),
                          memory_limit: str | None = None) -> int:
        """Define the calls a report covers (see `report_calls` for the filters); `agent_key` is
        the agent, or `unknown_agent` for calls without one. Returns how many calls it covers.
        `memory_limit` (e.g. "200MB") caps DuckDB's own memory for this connection's database."""
        if memory_limit:
            self.con.execute(f"SET memory_limit = {_sql_text(memory_limit)}")
        self.con.execute("SET VARIABLE callqa_report_version = ?", [rubric_hash])
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {_SCOPE} AS
            SELECT c.call_id, c.agent, coalesce(c.agent, ?::VARCHAR) AS agent_key, c.team, c.call_date, c.language,
                   coalesce(f.score, s.score) AS score, coalesce(f.passed, s.passed) AS passed,
                   coalesce(f.auto_failed, s.auto_failed) AS auto_failed, s.score AS machine_score,
                   coalesce(f.reviewed, 0) AS reviewed, s.pass_mark
            FROM calls c JOIN scorecards s USING (call_id)
            LEFT JOIN final_scorecards f ON f.call_id = s.call_id AND f.rubric_hash = s.rubric_hash
            WHERE s.rubric_hash = ?
              AND (?::DATE IS NULL OR c.call_date >= ?::DATE)
              AND (?::DATE IS NULL OR c.call_date <= ?::DATE)
              AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], c.agent))
              AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], c.team))""",
            [unknown_agent, rubric_hash, since, since, until, until, list(agents), list(agents),
             list(teams), list(teams)])
        return self.con.execute(f"SELECT count(*) FROM {_SCOPE}").fetchall()[0][0]

    def close_report_scope(self) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {_SCOPE}")

    def scope_summaries(self, by_agent: bool) -> list[dict]:
        """Calls, average score, pass rate, auto-fails, pass mark and `trend_change` (average score of the
        later half of the calls by date, undated first, minus the earlier half's; None for fewer
        than two calls) of the whole scope (`agent_key` None), or of each agent."""
        return self._rows(f"""
            WITH ranked AS (
                SELECT CASE WHEN ? THEN agent_key END AS grp, score, passed, auto_failed, pass_mark,
                       row_number() OVER w AS rn, count(*) OVER (PARTITION BY CASE WHEN ? THEN agent_key END) AS n
                FROM {_SCOPE}
                WINDOW w AS (PARTITION BY CASE WHEN ? THEN agent_key END ORDER BY call_date NULLS FIRST, call_id))
            SELECT grp AS agent_key, count(*) AS calls, avg(score) AS average,
                   count(*) FILTER (WHERE passed) / count(*) AS pass_rate,
                   count(*) FILTER (WHERE auto_failed) AS auto_failed, min(pass_mark) AS pass_mark,
                   CASE WHEN count(*) >= 2 THEN avg(score) FILTER (WHERE rn > n // 2)
                        - avg(score) FILTER (WHERE rn <= n // 2) END AS trend_change
            FROM ranked GROUP BY grp ORDER BY grp""", [by_agent, by_agent, by_agent])

    def scope_pass_rates(self, by_agent: bool) -> list[dict]:
        """(agent_key or None, criterion_id, passed, applicable): final outcomes of the scope's
        criterion results, applicable meaning not N/A."""
        return self._rows(f"""
            SELECT CASE WHEN ? THEN s.agent_key END AS agent_key, cr.criterion_id,
                   count(*) FILTER (WHERE coalesce(f.outcome, cr.outcome) = 'pass') AS passed,
                   count(*) FILTER (WHERE coalesce(f.outcome, cr.outcome) IS DISTINCT FROM 'na') AS applicable
            FROM {_SCOPE} s JOIN criterion_results cr ON cr.call_id = s.call_id AND cr.rubric_hash = {_VERSION}
            LEFT JOIN final_results f ON f.call_id = cr.call_id AND f.rubric_hash = cr.rubric_hash
                 AND f.criterion_id = cr.criterion_id
            GROUP BY ALL ORDER BY ALL""", [by_agent])

    def scope_weekly(self, by_agent: bool) -> list[dict]:
        """Per week (Monday `week`) of dated calls with a finite score, of the scope or of each
        agent: average score, pass rate, calls."""
        return self._rows(f"""
            SELECT CASE WHEN ? THEN agent_key END AS agent_key,
                   call_date - (isodow(call_date) - 1)::INTEGER AS week, avg(score) AS average,
                   count(*) FILTER (WHERE passed) / count(*) AS pass_rate, count(*) AS calls
            FROM {_SCOPE} WHERE call_date IS NOT NULL AND isfinite(score)
            GROUP BY ALL ORDER BY ALL""", [by_agent])

    def scope_points(self, most: int) -> list[dict]:
        """agent_key, call_date, score, passed of each dated call with a finite score, by date
        then id, of the agents with at most `most` such calls."""
        return self._rows(f"""
            SELECT agent_key, call_date, score, passed FROM {_SCOPE}
            WHERE call_date IS NOT NULL AND isfinite(score)
            QUALIFY count(*) OVER (PARTITION BY agent_key) <= ?
            ORDER BY agent_key, call_date, call_id""", [most])

    def scope_languages(self) -> list[dict]:
        """agent_key, language: the languages of each agent's calls."""
        return self._rows(f"SELECT DISTINCT agent_key, language FROM {_SCOPE} ORDER BY ALL")

    def scope_calls(self, where: str = "all", limit: int | None = None, agent: str | None = None) -> list[dict]:
        """Rows of the scope (call_id, agent, agent_key, team, call_date, language, score,
        passed, auto_failed, machine_score, reviewed, rubric_hash), by date (undated last) then id.

        where: "all"; "latest" (the `limit` most recent calls of each agent: undated first,
        then newest; all of them without a limit); "team_latest" (the `limit` most recent of
        the scope); "auto_failed" (the `limit` most recent auto-failed calls of each agent);
        "reviewed" (calls with a reviewer's answer, or in the review queue). `agent`: one agent's only."""
        recent = "ORDER BY call_date IS NULL DESC, call_date DESC, call_id DESC"
        latest = "(?::INTEGER IS NULL OR row_number() OVER ({}) <= ?)"
        where_, qualify = {
            "all": ("TRUE", None),
            "latest": ("TRUE", latest.format(f"PARTITION BY agent_key {recent}")),
            "team_latest": ("TRUE", latest.format(recent)),
            "auto_failed": ("auto_failed", latest.format(f"PARTITION BY agent_key {recent}")),
            "reviewed": (f"(reviewed > 0 OR call_id IN (SELECT q.call_id FROM review_queue q "
                         f"WHERE q.rubric_hash = {_VERSION}))", None),
        }[where]
        params = [limit, limit] if qualify else []
        return self._rows(f"""
            SELECT call_id, agent, agent_key, team, call_date, language, score, passed, auto_failed,
                   machine_score, reviewed, {_VERSION} AS rubric_hash
            FROM {_SCOPE} WHERE (?::VARCHAR IS NULL OR agent_key = ?::VARCHAR) AND {where_}
            {f"QUALIFY {qualify}" if qualify else ""}
            ORDER BY call_date NULLS LAST, call_id""", [agent, agent, *params])

    def scope_call_ids(self) -> list[str]:
        """Every call of the scope, by date (undated last) then id."""
        return [r[0] for r in self.con.execute(
            f"SELECT call_id FROM {_SCOPE} ORDER BY call_date NULLS LAST, call_id").fetchall()]

    def scope_misses(self, per_criterion: int, agents: Sequence[str], criteria: Sequence[str]) -> list[dict]:
        """For each pair (agents[i], criteria[i]), the `per_criterion` most recent failed results (final
        outcome; by call date, undated last, then call id, descending): agent_key, call_date,
        call_id, criterion_id, note, outcome, machine_outcome, review_id, metrics (the call's
        stored metrics, decoded) and evidence (rows in order). Picked by a grouped top-n, so
        memory stays small however many results fail."""
        rows = self._rows(f"""
            WITH top AS (
                SELECT s.agent_key, cr.criterion_id,
                       arg_max({{'call_id': cr.call_id, 'rubric_hash': cr.rubric_hash, 'call_date': s.call_date,
                                 'note': cr.note, 'outcome': coalesce(f.outcome, cr.outcome),
                                 'machine_outcome': cr.outcome, 'review_id': f.review_id}},
                               {{'day': coalesce(s.call_date, DATE '0001-01-01'), 'call_id': cr.call_id}}, ?) AS picks
                FROM {_SCOPE} s JOIN criterion_results cr ON cr.call_id = s.call_id AND cr.rubric_hash = {_VERSION}
                LEFT JOIN final_results f ON f.call_id = cr.call_id AND f.rubric_hash = cr.rubric_hash
                     AND f.criterion_id = cr.criterion_id
                JOIN (SELECT unnest(?::VARCHAR[]) AS agent_key, unnest(?::VARCHAR[]) AS criterion_id) w
                     ON w.agent_key = s.agent_key AND w.criterion_id = cr.criterion_id
                WHERE coalesce(f.outcome, cr.outcome) = 'fail'
                GROUP BY s.agent_key, cr.criterion_id),
            missed AS (SELECT agent_key, criterion_id, unnest(picks) AS m FROM top)
            SELECT agent_key, m.call_date AS call_date, m.call_id AS call_id, m.rubric_hash AS rubric_hash,
                   criterion_id, m.note AS note, m.outcome AS outcome, m.machine_outcome AS machine_outcome,
                   m.review_id AS review_id
            FROM missed ORDER BY agent_key, criterion_id, call_date DESC NULLS LAST, call_id DESC""",
            [per_criterion, list(agents), list(criteria)])
        ids = sorted({r["call_id"] for r in rows})
        evidence = self._evidence_of(ids, {(r["call_id"], r["rubric_hash"], r["criterion_id"]) for r in rows})
        metrics = {(call_id, rubric_hash): text for call_id, rubric_hash, text in self.con.execute(
            "SELECT call_id, rubric_hash, metrics FROM scorecards WHERE call_id IN (SELECT unnest(?::VARCHAR[]))",
            [ids]).fetchall()}
        for row in rows:
            row["metrics"] = json.loads(metrics.get((row["call_id"], row["rubric_hash"])) or "null")
            row["evidence"] = evidence.get((row["call_id"], row["rubric_hash"], row["criterion_id"]), [])
        return rows

    def _evidence_of(self, call_ids: list[str], wanted: set[tuple[str, str, str]],
                     kind: str | None = None) -> dict[tuple[str, str, str], list[EvidenceRow]]:
        """(call_id, rubric_hash, criterion_id) -> its evidence rows in order (of one kind, or
        all), for the keys in `wanted` among the calls `call_ids` (a semi-join on the few ids)."""
        found: dict[tuple[str, str, str], list[dict]] = {}
        for ev in self._rows("""
                SELECT call_id, rubric_hash, criterion_id, evidence_index, kind, quote, role, start_s, end_s
                FROM evidence WHERE call_id IN (SELECT unnest(?::VARCHAR[])) AND (?::VARCHAR IS NULL OR kind = ?)
                ORDER BY call_id, criterion_id, evidence_index""", [call_ids, kind, kind]):
            key = (ev["call_id"], ev["rubric_hash"], ev["criterion_id"])
            if key in wanted:
                found.setdefault(key, []).append(ev)
        return found

    def scope_model_quotes(self, criterion_id: str, per_language: int = 2) -> list[dict]:
        """Candidates for "how a teammate did it" in one criterion: for each call language, the
        latest call (by date, undated oldest, then id) of each of the `per_language` agents with
        the latest calls that passed it (final outcome) with a quote: language, agent_key, agent,
        call_id, call_date and the first quote's evidence row (call_id, rubric_hash,
        criterion_id, evidence_index, kind, quote, role, start_s, end_s). One criterion at a
        time keeps the joins small."""
        rows = self._rows(f"""
            WITH best AS (
                SELECT s.language, s.agent_key,
                       arg_max({{'call_id': s.call_id, 'agent': s.agent, 'call_date': s.call_date}},
                               {{'day': coalesce(s.call_date, DATE '0001-01-01'), 'call_id': s.call_id}}) AS b
                FROM {_SCOPE} s JOIN criterion_results cr ON cr.call_id = s.call_id AND cr.rubric_hash = {_VERSION}
                LEFT JOIN final_results f ON f.call_id = cr.call_id AND f.rubric_hash = cr.rubric_hash
                     AND f.criterion_id = cr.criterion_id
                WHERE cr.criterion_id = ? AND coalesce(f.outcome, cr.outcome) = 'pass'
                  AND cr.call_id IN (SELECT e.call_id FROM evidence e WHERE e.rubric_hash = {_VERSION}
                                     AND e.criterion_id = ? AND e.kind = 'quote')
                GROUP BY s.language, s.agent_key)
            SELECT language, agent_key, b.agent AS agent, b.call_id AS call_id, b.call_date AS call_date,
                   {_VERSION} AS rubric_hash
            FROM best
            QUALIFY row_number() OVER (PARTITION BY language
                                       ORDER BY coalesce(b.call_date, DATE '0001-01-01') DESC, b.call_id DESC) <= ?
            ORDER BY language NULLS FIRST, coalesce(call_date, DATE '0001-01-01') DESC, call_id DESC""",
            [criterion_id, criterion_id, per_language])
        quotes = self._evidence_of(sorted({r["call_id"] for r in rows}),
                                   {(r["call_id"], r["rubric_hash"], criterion_id) for r in rows}, "quote")
        for row in rows:
            row.update(quotes[(row["call_id"], row["rubric_hash"], criterion_id)][0], criterion_id=criterion_id)
        return rows

    # -- reviews -----------------------------------------------------------------------

    def call_rubric_hash(self, call_id: str) -> str | None:
        """The rubric version of the call's most recent scorecard."""
        row = self.con.execute("SELECT rubric_hash FROM scorecards WHERE call_id = ? "
                               "ORDER BY scored_at DESC LIMIT 1", [call_id]).fetchall()
        row = row[0] if row else None
        return row[0] if row else None

    def call_file(self, call_id: str) -> str | None:
        """The audio file a stored call was transcribed from."""
        row = self.con.execute("SELECT file FROM calls WHERE call_id = ?", [call_id]).fetchall()
        row = row[0] if row else None
        return row[0] if row else None

    def rubric_yaml(self, rubric_hash: str) -> str | None:
        """The YAML text of a stored rubric version."""
        row = self.con.execute("SELECT yaml_text FROM rubrics WHERE rubric_hash = ?", [rubric_hash]).fetchall()
        row = row[0] if row else None
        return row[0] if row else None

    def machine_results(self, rubric_hash: str, call_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """call_id -> criterion_id -> the machine's outcome, for this rubric version."""
        out: dict[str, dict[str, str]] = {}
        for call_id, criterion_id, outcome in self.con.execute(
                "SELECT call_id, criterion_id, outcome FROM criterion_results "
                "WHERE rubric_hash = ? AND list_contains(?, call_id)", [rubric_hash, list(call_ids)]).fetchall():
            out.setdefault(call_id, {})[criterion_id] = outcome
        return out

    def final_answers(self, rubric_hash: str, call_ids: Sequence[str] | None = None) -> dict[str, dict[str, tuple[str, int]]]:
        """call_id -> criterion_id -> (outcome, review id) of the latest review of each reviewed
        criterion in this rubric version (all calls when `call_ids` is None)."""
        out: dict[str, dict[str, tuple[str, int]]] = {}
        for call_id, criterion_id, outcome, review_id in self.con.execute("""
                SELECT call_id, criterion_id, arg_max(outcome, review_id), max(review_id) FROM reviews
                WHERE rubric_hash = ? AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], call_id))
                GROUP BY call_id, criterion_id""",
                [rubric_hash, None if call_ids is None else list(call_ids),
                 None if call_ids is None else list(call_ids)]).fetchall():
            out.setdefault(call_id, {})[criterion_id] = (outcome, review_id)
        return out

    def review_history(self, call_id: str) -> list[dict]:
        """Every review of the call (all rubric versions), oldest first: the audit trail."""
        return self._rows("""
            SELECT review_id, call_id, rubric_hash, criterion_id, reviewer, reviewed_at, machine_outcome,
                   previous_outcome, outcome, reason, comment, source
            FROM reviews WHERE call_id = ? ORDER BY review_id""", [call_id])

    def human_answers(self, rubric_hash: str | None = None) -> list[dict]:
        """Each reviewer's latest answer per call and criterion (of one rubric version, or all),
        with the machine's answer in that version: call_id, rubric_hash, criterion_id, reviewer,
        outcome, machine_outcome, reviewed_at."""
        return self._rows("""
            SELECT r.call_id, r.rubric_hash, r.criterion_id, r.reviewer,
                   arg_max(r.outcome, r.review_id) AS outcome, any_value(cr.outcome) AS machine_outcome,
                   max(r.reviewed_at) AS reviewed_at
            FROM reviews r LEFT JOIN criterion_results cr USING (call_id, rubric_hash, criterion_id)
            WHERE ?::VARCHAR IS NULL OR r.rubric_hash = ?::VARCHAR
            GROUP BY r.call_id, r.rubric_hash, r.criterion_id, r.reviewer
            ORDER BY r.rubric_hash, r.criterion_id, r.call_id, r.reviewer""", [rubric_hash, rubric_hash])

    def sampling_calls(self, rubric_hash: str) -> list[dict]:
        """Calls scored with this rubric version, for sampling: call_id, agent, call date (else
        the day it was transcribed), machine score, passed, auto_failed, pass_mark, outcomes
        (criterion_id -> machine outcome), reviewed (criteria answered by a reviewer)."""
        rows = self._rows("""
            SELECT c.call_id, c.agent, coalesce(c.call_date, c.transcribed_at::DATE) AS call_date, s.score, s.passed,
                   s.auto_failed, s.pass_mark, coalesce(f.reviewed, 0) AS reviewed,
                   map_from_entries(list((cr.criterion_id, cr.outcome))) AS outcomes
            FROM calls c JOIN scorecards s USING (call_id)
            LEFT JOIN final_scorecards f ON f.call_id = s.call_id AND f.rubric_hash = s.rubric_hash
            LEFT JOIN criterion_results cr ON cr.call_id = s.call_id AND cr.rubric_hash = s.rubric_hash
            WHERE s.rubric_hash = ?
            GROUP BY ALL ORDER BY c.call_id""", [rubric_hash])
        for row in rows:
            row["outcomes"] = {k: v for k, v in (row["outcomes"] or {}).items() if k is not None}
        return rows

    def review_queue(self, rubric_hash: str | None = None) -> list[dict]:
        """Queued calls (of one rubric version, or all) with their agent, date, final score and
        how many criteria were reviewed, unreviewed first, then by when they were queued."""
        return self._rows("""
            SELECT q.call_id, q.rubric_hash, q.reason, q.period, q.sampled_at, c.agent, c.call_date, c.duration_s,
                   c.language, coalesce(f.score, s.score) AS score, s.score AS machine_score,
                   coalesce(f.passed, s.passed) AS passed, coalesce(f.reviewed, 0) AS reviewed
            FROM review_queue q JOIN calls c USING (call_id)
            JOIN scorecards s ON s.call_id = q.call_id AND s.rubric_hash = q.rubric_hash
            LEFT JOIN final_scorecards f ON f.call_id = q.call_id AND f.rubric_hash = q.rubric_hash
            WHERE ?::VARCHAR IS NULL OR q.rubric_hash = ?::VARCHAR
            ORDER BY coalesce(f.reviewed, 0) > 0, q.sampled_at, q.call_id""", [rubric_hash, rubric_hash])

    def calls_scored_only_with_other_versions(self, rubric_hash: str) -> int:
        """How many calls have scorecards, none of them of this rubric version."""
        return self.con.execute(
            "SELECT count(DISTINCT call_id) FROM scorecards WHERE call_id NOT IN "
            "(SELECT call_id FROM scorecards WHERE rubric_hash = ?)", [rubric_hash]).fetchall()[0][0]

    # -- table exports -----------------------------------------------------------------

    def export_tables(self, out_dir: str | Path, fmt: TableFormatSpec,
                      metrics: Sequence[MetricSpec] | None = None) -> list[Path]:
        """Write scorecards.<fmt.name> and criterion_results.<fmt.name> into the existing folder
        `out_dir` with DuckDB's COPY and `fmt.copy_options`; return their paths. Scores and
        outcomes are the final ones (a reviewer's answer in place of the machine's), with the
        machine's beside them (machine_score, machine_outcome) and what was reviewed.

        The scorecards table has one DOUBLE column per metric, `metric_column(name)`, e.g.
        metric_dead_air_s (by default the registered ones, scoring.metrics.registered_metrics()),
        holding `metric.value()` of the call's stored metrics; NULL where the scorecard has no
        metrics (scored before they were stored) or the metric has no value for the call.

        With `fmt.quote_formulas` (CSV, which people open in spreadsheets) text that would start
        a formula gets a leading '; numbers, dates and booleans stay as they are. A fault (of the
        database or of the folder) is one StoreError line naming `out_dir`."""
        from qa.store import StoreError

        if metrics is None:
            from scoring.metrics import registered_metrics

            metrics = registered_metrics()
        out_dir = Path(out_dir)
        written = []
        try:
            try:
                columns = self._fill_metrics_table(metrics)
                for name, query in _EXPORTS.items():
                    query = query.format(
                        metric_columns="".join(f", m.{column}" for column in columns),
                        metric_join=(f"\n        LEFT JOIN temp.main.{_METRICS_TABLE} m "
                                     "ON m.call_id = s.call_id AND m.rubric_hash = s.rubric_hash") if columns else "")
                    if fmt.quote_formulas:
                        query = self._without_formulas(query)
                    target = out_dir / f"{name}.{fmt.name}"
                    self.con.execute(f"COPY ({query}) TO {_sql_text(str(target))} ({fmt.copy_options})")
                    written.append(target)
            finally:
                self.con.execute(f"DROP TABLE IF EXISTS temp.main.{_METRICS_TABLE}")
        except duckdb.Error as exc:
            raise StoreError(f"{out_dir}: export failed ({_first_line(exc)})") from None
        return written

    def _fill_metrics_table(self, metrics: Sequence[MetricSpec]) -> list[str]:
        """A TEMP table (call_id, rubric_hash, metric_<name>...) of each scorecard's metric values,
        computed by the metrics themselves from the stored JSON; returns the quoted metric
        column names (none, and no table, without metrics)."""
        if not metrics:
            return []
        names = [metric_column(m.name) for m in metrics]
        if len(set(names)) < len(names):
            raise ValueError(f"two metrics share an export column: {', '.join(sorted(names))}")
        columns = [_identifier(name) for name in names]
        stored = self.con.execute("SELECT call_id, rubric_hash, metrics FROM scorecards "
                                  "WHERE metrics IS NOT NULL").fetchall()
        rows = []
        for call_id, rubric_hash, text in stored:
            call_metrics = call_metrics_from_json(text)
            if call_metrics is not None:
                rows.append([call_id, rubric_hash, *(_metric_value(m, call_metrics) for m in metrics)])
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_METRICS_TABLE} (call_id VARCHAR, rubric_hash VARCHAR, "
                         + ", ".join(f"{c} DOUBLE" for c in columns) + ")")
        if rows:
            _insert_columns(self.con, f"temp.main.{_METRICS_TABLE}",
                            {"call_id": "VARCHAR", "rubric_hash": "VARCHAR", **dict.fromkeys(columns, "DOUBLE")},
                            [list(column) for column in zip(*rows)])
        return columns

    def _without_formulas(self, query: str) -> str:
        """`query` with each text column guarded against formula injection; numbers, dates and
        booleans are untouched (a negative score stays a number)."""
        starts = ", ".join(_sql_text(c) for c in FORMULA_STARTS)
        columns = []
        for name, kind, *_ in self.con.execute(f"DESCRIBE ({query})").fetchall():
            col = _identifier(name)
            columns.append(f"CASE WHEN left({col}, 1) IN ({starts}) THEN {_sql_text(chr(39))} || {col} "
                           f"ELSE {col} END AS {col}" if kind == "VARCHAR" else col)
        return f"SELECT {', '.join(columns)} FROM ({query})"


def call_metrics_from_json(text: str | None) -> CallMetrics | None:
    """The CallMetrics a scorecard's metrics column holds (written as to_plain(CallMetrics)), or
    None when it holds none. Fields a newer release added and an older row lacks take their
    defaults (CallMetrics.from_plain)."""
    plain = json.loads(text) if text else None
    if not isinstance(plain, dict):
        return None
    return CallMetrics.from_plain({"duration_s": None, **plain})


def metric_column(name: str) -> str:
    """The scorecards export's column for a metric: metric_ and the name with every character
    other than a letter, digit or _ as _ ("talk_s.agent" -> "metric_talk_s_agent")."""
    return METRIC_PREFIX + re.sub(r"[^0-9A-Za-z_]", "_", name)


def _metric_value(metric: MetricSpec, call_metrics: CallMetrics) -> float | None:
    """A metric's value as a number for a DOUBLE column; None where the stored metrics of an
    older row do not hold what it needs, and for NaN and infinities (not numbers in CSV or JSON)."""
    try:
        value = metric.value(call_metrics)
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError):
        return None
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _insert_columns(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str],
                    values: list[list]) -> None:
    """Insert rows given column by column (`columns`: name -> DuckDB type, `values`: one list per
    column) in one statement, each column one list parameter (far faster than rows of VALUES)."""
    con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT "
                + ", ".join(f"unnest(?::{kind}[])" for kind in columns.values()), values)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    """A string literal (COPY takes no bound parameter for its target)."""
    return "'" + value.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
