"""DuckDB store: calls, turns, rubrics, scorecards, criterion results and evidence.

Every call is written in one transaction; writing a call again replaces its turns, and
scoring it again with the same rubric version replaces that scorecard, so nothing is
duplicated. All SQL takes its values as parameters.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from qa_types import Role, RoleDecision, Scorecard, SpeakerSpan, Transcript, Turn, Word, to_plain
from scoring.rubric import Rubric

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id VARCHAR PRIMARY KEY,
    file VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    agent VARCHAR,
    team VARCHAR,
    call_date DATE,
    duration_s DOUBLE,
    language VARCHAR,
    language_probability DOUBLE,
    channels INTEGER,
    model VARCHAR,
    warnings VARCHAR,
    redactions VARCHAR,
    holds VARCHAR,
    transcribed_at TIMESTAMP,
    speakers INTEGER,
    agent_speaker VARCHAR,
    role_method VARCHAR,
    role_confidence DOUBLE,
    role_detail VARCHAR,
    voice_similarity VARCHAR
);
CREATE TABLE IF NOT EXISTS speaker_spans (
    call_id VARCHAR NOT NULL,
    start_s DOUBLE,
    end_s DOUBLE,
    speaker VARCHAR
);
CREATE TABLE IF NOT EXISTS voiceprints (
    agent VARCHAR PRIMARY KEY,
    embedding FLOAT[],
    source VARCHAR,
    speech_s DOUBLE,
    enrolled_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS turns (
    call_id VARCHAR NOT NULL,
    turn_index INTEGER NOT NULL,
    speaker VARCHAR,
    role VARCHAR,
    start_s DOUBLE,
    end_s DOUBLE,
    text VARCHAR,
    words VARCHAR,
    PRIMARY KEY (call_id, turn_index)
);
CREATE TABLE IF NOT EXISTS rubrics (
    rubric_hash VARCHAR PRIMARY KEY,
    rubric_id VARCHAR NOT NULL,
    name VARCHAR,
    pass_mark DOUBLE,
    yaml_text VARCHAR,
    stored_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS criteria (
    rubric_hash VARCHAR NOT NULL,
    position INTEGER,
    section_id VARCHAR,
    section_name VARCHAR,
    criterion_id VARCHAR NOT NULL,
    name VARCHAR,
    points DOUBLE,
    critical VARCHAR,
    coaching VARCHAR,
    PRIMARY KEY (rubric_hash, criterion_id)
);
CREATE TABLE IF NOT EXISTS scorecards (
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    rubric_id VARCHAR,
    score DOUBLE,
    passed BOOLEAN,
    auto_failed BOOLEAN,
    pass_mark DOUBLE,
    flags VARCHAR,
    metrics VARCHAR,
    scored_at TIMESTAMP,
    run_id VARCHAR,
    PRIMARY KEY (call_id, rubric_hash)
);
CREATE TABLE IF NOT EXISTS section_scores (
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    section_id VARCHAR NOT NULL,
    name VARCHAR,
    weight DOUBLE,
    points_awarded DOUBLE,
    points_possible DOUBLE,
    PRIMARY KEY (call_id, rubric_hash, section_id)
);
CREATE TABLE IF NOT EXISTS criterion_results (
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    section_id VARCHAR,
    criterion_id VARCHAR NOT NULL,
    name VARCHAR,
    outcome VARCHAR,
    points_awarded DOUBLE,
    points_possible DOUBLE,
    critical VARCHAR,
    note VARCHAR,
    PRIMARY KEY (call_id, rubric_hash, criterion_id)
);
CREATE TABLE IF NOT EXISTS evidence (
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    criterion_id VARCHAR NOT NULL,
    evidence_index INTEGER NOT NULL,
    kind VARCHAR,
    quote VARCHAR,
    role VARCHAR,
    start_s DOUBLE,
    end_s DOUBLE,
    PRIMARY KEY (call_id, rubric_hash, criterion_id, evidence_index)
);
CREATE TABLE IF NOT EXISTS failures (
    file VARCHAR NOT NULL,
    call_id VARCHAR,
    reason VARCHAR,
    run_id VARCHAR,
    failed_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    rubric_hash VARCHAR,
    model VARCHAR,
    files INTEGER,
    scored INTEGER,
    failed INTEGER
);
"""

# Columns added after the first release: older databases gain them on open.
MIGRATIONS = [
    f"ALTER TABLE calls ADD COLUMN IF NOT EXISTS {column}"
    for column in ("speakers INTEGER", "agent_speaker VARCHAR", "role_method VARCHAR",
                   "role_confidence DOUBLE", "role_detail VARCHAR", "voice_similarity VARCHAR")
]
_CALL_TABLES = ("evidence", "criterion_results", "section_scores", "scorecards", "turns", "speaker_spans",
                "calls", "failures")
_SCORE_TABLES = ("evidence", "criterion_results", "section_scores", "scorecards")


class StoreError(Exception):
    """The database cannot be opened or written; the message says which file and why."""


@dataclass
class CallInfo:
    """What is known about a call besides its audio."""

    call_id: str
    file: str
    content_hash: str
    agent: str | None = None
    team: str | None = None
    call_date: date | None = None
    redactions: dict[str, int] | None = None  # kind -> count; None when redaction was off


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Store:
    """One DuckDB file. Use as a context manager or call close()."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise StoreError(f"{self.path}: database not found (score some calls first with `qa score`)")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
                who = f"{holder.group(1)} (PID {holder.group(2)})" if holder else "another process"
                raise StoreError(
                    f"{self.path}: database is in use by another process: {who}; "
                    "wait for it to finish (or stop it), then run again, or use another --db"
                ) from None
            raise StoreError(f"{self.path}: cannot open database ({exc})") from None
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: not a usable DuckDB database ({exc})") from None
        if not read_only:
            self.con.execute(SCHEMA)
            for statement in MIGRATIONS:
                self.con.execute(statement)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # -- writing -----------------------------------------------------------------------

    def save_rubric(self, rubric: Rubric, yaml_text: str) -> None:
        """Store a rubric version (once per content hash) with its criteria."""
        exists = self.con.execute(
            "SELECT 1 FROM rubrics WHERE rubric_hash = ?", [rubric.content_hash]
        ).fetchone()
        if exists:
            return
        rows = [
            (rubric.content_hash, i, s.id, s.title, c.id, c.title, c.points, c.critical, c.coaching)
            for i, (s, c) in enumerate(rubric.criteria())
        ]
        with self._transaction():
            self.con.execute(
                "INSERT INTO rubrics VALUES (?, ?, ?, ?, ?, ?)",
                [rubric.content_hash, rubric.id, rubric.name, rubric.pass_mark, yaml_text, _now()],
            )
            self._insert("criteria", [list(r) for r in rows])

    def save_call(self, info: CallInfo, transcript: Transcript, scorecard: Scorecard | None,
                  run_id: str | None = None) -> None:
        """Write one call's transcript and scorecard in one transaction, replacing earlier rows."""
        with self._transaction():
            self._write_transcript(info, transcript)
            if scorecard is not None:
                self._write_scorecards([(info.call_id, scorecard)], run_id)
            self.con.execute("DELETE FROM failures WHERE file = ?", [info.file])

    def save_scorecards(self, cards: list[tuple[str, Scorecard]], run_id: str | None = None) -> None:
        """Write (or replace) scorecards of stored calls, all in one transaction."""
        with self._transaction():
            self._write_scorecards(cards, run_id)

    def record_failure(self, file: str, call_id: str | None, reason: str, run_id: str | None) -> None:
        """Remember that a file could not be processed, replacing its earlier failure."""
        with self._transaction():
            self.con.execute("DELETE FROM failures WHERE file = ?", [file])
            self.con.execute("INSERT INTO failures VALUES (?, ?, ?, ?, ?)", [file, call_id, reason, run_id, _now()])

    def forget(self, call_ids: list[str]) -> dict[str, int]:
        """Delete every row of these calls (transcripts, scores, evidence, failures); rows removed per table."""
        removed = {}
        with self._transaction():
            for table in _CALL_TABLES:
                n = self.con.execute(f"SELECT count(*) FROM {table} WHERE list_contains(?, call_id)", [call_ids]).fetchone()[0]
                self.con.execute(f"DELETE FROM {table} WHERE list_contains(?, call_id)", [call_ids])
                removed[table] = n
        self.con.execute("CHECKPOINT")  # deleted text leaves the write-ahead log now
        return removed

    def save_voiceprint(self, agent: str, embedding: list[float], source: str, speech_s: float) -> None:
        """Enrol (or replace) an agent's voiceprint."""
        with self._transaction():
            self.con.execute("DELETE FROM voiceprints WHERE agent = ?", [agent])
            self.con.execute("INSERT INTO voiceprints VALUES (?, ?, ?, ?, ?)",
                             [agent, [float(v) for v in embedding], source, speech_s, _now()])

    def voiceprint(self, agent: str | None) -> list[float] | None:
        """An agent's enrolled voiceprint, or None."""
        if not agent:
            return None
        row = self.con.execute("SELECT embedding FROM voiceprints WHERE agent = ?", [agent]).fetchone()
        return list(row[0]) if row else None

    def start_run(self, run_id: str, rubric_hash: str, model: str, files: int) -> None:
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, NULL, ?, ?, ?, 0, 0)", [run_id, _now(), rubric_hash, model, files]
        )

    def finish_run(self, run_id: str, scored: int, failed: int) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, scored = ?, failed = ? WHERE run_id = ?",
            [_now(), scored, failed, run_id],
        )

    def _transaction(self):
        return _Transaction(self.con)

    def _write_transcript(self, info: CallInfo, t: Transcript) -> None:
        for table in ("turns", "speaker_spans", "calls"):
            self.con.execute(f"DELETE FROM {table} WHERE call_id = ?", [info.call_id])
        role = t.role_decision
        self.con.execute(
            "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [info.call_id, info.file, info.content_hash, info.agent, info.team, info.call_date,
             t.duration, t.language, t.language_probability, t.channels, t.model,
             json.dumps(t.warnings), json.dumps(info.redactions), json.dumps(t.holds), _now(),
             len(t.speakers), role.agent_speaker if role else None, role.method if role else None,
             role.confidence if role else None, role.detail if role else None,
             json.dumps(t.voice_similarity) if t.voice_similarity else None],
        )
        if t.speaker_spans:
            self._insert("speaker_spans", [(info.call_id, s.start, s.end, s.speaker) for s in t.speaker_spans])
        rows = [
            (info.call_id, i, turn.speaker, turn.role.value, turn.start, turn.end, turn.text,
             json.dumps([[w.text, w.start, w.end, w.probability] for w in turn.words]))
            for i, turn in enumerate(t.turns)
        ]
        if rows:
            self._insert("turns", rows)

    def _insert(self, table: str, rows: list[list], chunk: int = 500) -> None:
        """Insert rows with multi-row parameterised VALUES statements (much faster than one per row)."""
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            marks = "(" + ", ".join("?" * len(part[0])) + ")"
            self.con.execute(f"INSERT INTO {table} VALUES " + ", ".join([marks] * len(part)),
                             [value for row in part for value in row])

    def _write_scorecards(self, cards: list[tuple[str, Scorecard]], run_id: str | None) -> None:
        by_rubric: dict[str, list[str]] = {}
        for call_id, card in cards:
            by_rubric.setdefault(card.rubric_hash, []).append(call_id)
        for rubric_hash, call_ids in by_rubric.items():
            for table in _SCORE_TABLES:
                self.con.execute(f"DELETE FROM {table} WHERE rubric_hash = ? AND list_contains(?, call_id)",
                                 [rubric_hash, call_ids])
        now = _now()
        scorecards, sections, results, evidence = [], [], [], []
        for call_id, card in cards:
            key = [call_id, card.rubric_hash]
            scorecards.append(key + [card.rubric_id, card.score, card.passed, card.auto_failed, card.pass_mark,
                                     json.dumps(card.flags), json.dumps(to_plain(card.metrics)), now, run_id])
            sections += [key + [s.section_id, s.name, s.weight, s.points_awarded, s.points_possible]
                         for s in card.sections]
            results += [key + [r.section_id, r.criterion_id, r.name, r.outcome.value, r.points_awarded,
                               r.points_possible, r.critical, r.note] for r in card.results]
            evidence += [key + [r.criterion_id, i, e.kind, e.quote, e.role, e.start, e.end]
                         for r in card.results for i, e in enumerate(r.evidence)]
        for table, rows in (("scorecards", scorecards), ("section_scores", sections),
                            ("criterion_results", results), ("evidence", evidence)):
            if rows:
                self._insert(table, rows)

    # -- reading -----------------------------------------------------------------------

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows of a parameterised query as dicts."""
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def load_transcripts(self, call_ids: list[str] | None = None) -> list[tuple[CallInfo, Transcript]]:
        """Stored calls (all, or those in `call_ids`) with their transcripts, in three queries."""
        where, params = ("WHERE list_contains(?, call_id)", [call_ids]) if call_ids is not None else ("", [])
        calls = self.query(f"SELECT * FROM calls {where} ORDER BY call_id", params)
        turns: dict[str, list[Turn]] = {}
        cur = self.con.execute(f"SELECT call_id, speaker, role, start_s, end_s, text, words FROM turns {where} "
                               "ORDER BY call_id, turn_index", params)
        while rows := cur.fetchmany(10_000):
            for call_id, speaker, role, start, end, text, words in rows:
                turns.setdefault(call_id, []).append(Turn(
                    speaker=speaker, role=Role(role), start=start, end=end, text=text,
                    words=[Word(w[0], w[1], w[2], w[3], speaker) for w in json.loads(words or "[]")]))
        spans: dict[str, list[SpeakerSpan]] = {}
        for call_id, start, end, speaker in self.con.execute(
                f"SELECT call_id, start_s, end_s, speaker FROM speaker_spans {where} ORDER BY call_id, start_s",
                params).fetchall():
            spans.setdefault(call_id, []).append(SpeakerSpan(start, end, speaker))
        out = []
        for c in calls:
            info = CallInfo(call_id=c["call_id"], file=c["file"], content_hash=c["content_hash"],
                            agent=c["agent"], team=c["team"], call_date=c["call_date"])
            transcript = Transcript(turns=turns.get(c["call_id"], []), language=c["language"],
                                    duration=c["duration_s"], language_probability=c["language_probability"],
                                    channels=c["channels"], model=c["model"], warnings=json.loads(c["warnings"] or "[]"),
                                    holds=[tuple(h) for h in json.loads(c["holds"] or "[]")],
                                    speaker_spans=spans.get(c["call_id"], []),
                                    voice_similarity=json.loads(c["voice_similarity"] or "{}"),
                                    role_decision=_role_decision(c))
            out.append((info, transcript))
        return out

    def scored_calls(self, rubric_hash: str) -> set[str]:
        """Ids of calls that have a scorecard for this rubric version."""
        rows = self.con.execute("SELECT call_id FROM scorecards WHERE rubric_hash = ?", [rubric_hash]).fetchall()
        return {r[0] for r in rows}

    def scored_hash(self, call_id: str, rubric_hash: str, model: str) -> str | None:
        """Content hash of the audio a stored scorecard came from, if the call is scored with
        this rubric version from a transcript made by this model."""
        row = self.con.execute(
            "SELECT c.content_hash FROM calls c JOIN scorecards s USING (call_id) "
            "WHERE c.call_id = ? AND s.rubric_hash = ? AND c.model = ?", [call_id, rubric_hash, model]
        ).fetchone()
        return row[0] if row else None


def _role_decision(call: dict) -> RoleDecision | None:
    if call.get("role_method") is None:
        return None
    return RoleDecision(call["agent_speaker"], call["role_method"], call["role_confidence"], call["role_detail"] or "")


class _Transaction:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN TRANSACTION")

    def __exit__(self, exc_type, exc, tb):
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
