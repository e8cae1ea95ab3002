"""DuckDB store: calls, turns, sentence embeddings, rubrics, scorecards, criterion results and evidence.

The store is the only code that names tables and columns: this module (schema, migrations,
writes, transcripts for rescoring, failures and runs) and qa/store_read.py (`ReadModel`, which
`Store` inherits: what the reports and the table exports read). Everything else calls methods.

Every call is written in one transaction; writing a call again replaces its turns, and
scoring it again with the same rubric version replaces that scorecard, so nothing is
duplicated. A call's sentences are stored with its transcript as positions in its turns (no
second copy of the text) with their embeddings, one float16 BLOB per sentence; rubric
examples' embeddings are kept per model and text. All SQL takes its values as parameters, and
every INSERT names its columns (so the column order of a database made by an older release does
not matter). A scorecard's call metrics are a JSON column, so SQL can read them
(`metrics->>'dead_air_s'`).

The schema has a version (table `schema_version`). A database made by an older release is
brought forward on open, one released version at a time, each step in one transaction; a
database newer than this code is refused with one line. A write the disk refuses (full, quota,
file size limit) is one StoreError line naming the file; the calls stored before stay.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
import os
from collections import UserList
import re
import socket
import time
from dataclasses import dataclass, fields
from enum import Enum
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from qa.store_read import ReadModel, _first_line, _identifier, _insert_columns
from qa_types import CallRecord, Role, RoleDecision, Scorecard, SpeakerSpan, Transcript, Turn, Word

if TYPE_CHECKING:  # the store reads a rubric's fields only; importing scoring loads spaCy
    import numpy as np

    from scoring.rubric import Rubric

_REVIEW_TABLES = """
CREATE TABLE IF NOT EXISTS reviews (
    review_id BIGINT PRIMARY KEY,
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    criterion_id VARCHAR NOT NULL,
    reviewer VARCHAR NOT NULL,
    reviewed_at TIMESTAMP NOT NULL,
    machine_outcome VARCHAR,
    previous_outcome VARCHAR,
    outcome VARCHAR NOT NULL,
    reason VARCHAR,
    comment VARCHAR,
    source VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS final_scorecards (
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    score DOUBLE,
    passed BOOLEAN,
    auto_failed BOOLEAN,
    flags VARCHAR,
    reviewed INTEGER,
    updated_at TIMESTAMP,
    PRIMARY KEY (call_id, rubric_hash)
);
CREATE TABLE IF NOT EXISTS final_results (
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    criterion_id VARCHAR NOT NULL,
    outcome VARCHAR,
    points_awarded DOUBLE,
    points_possible DOUBLE,
    review_id BIGINT,
    PRIMARY KEY (call_id, rubric_hash, criterion_id)
);
CREATE TABLE IF NOT EXISTS final_sections (
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    section_id VARCHAR NOT NULL,
    points_awarded DOUBLE,
    points_possible DOUBLE,
    PRIMARY KEY (call_id, rubric_hash, section_id)
);
CREATE TABLE IF NOT EXISTS review_queue (
    call_id VARCHAR NOT NULL,
    rubric_hash VARCHAR NOT NULL,
    reason VARCHAR,
    period VARCHAR,
    sampled_at TIMESTAMP,
    PRIMARY KEY (call_id, rubric_hash)
);
"""

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
    voice_similarity VARCHAR,
    analyser VARCHAR
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
    tokens VARCHAR,
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
    metrics JSON,
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
    failed_at TIMESTAMP,
    agent VARCHAR
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    rubric_hash VARCHAR,
    model VARCHAR,
    files INTEGER,
    scored INTEGER,
    failed INTEGER,
    status VARCHAR,
    host VARCHAR,
    pid INTEGER
);
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS sentences (
    call_id VARCHAR NOT NULL,
    sentence_index INTEGER NOT NULL,
    turn_index INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL,
    model VARCHAR NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (call_id, sentence_index)
);
CREATE TABLE IF NOT EXISTS example_embeddings (
    model VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (model, text)
);
""" + _REVIEW_TABLES

# The schema SCHEMA creates. Each released change of the schema is one version:
#   1 bf9a940 first release          2 0a826c8 scorecards.metrics    3 e338b02 calls.redactions
#   4 a5cbb2e calls.holds            5 c2f51e0 roles, speaker_spans, voiceprints (unversioned so far)
#   6 eb3ab75 schema_version, runs.status, failures.agent
#   7 scorecards.metrics is JSON (was VARCHAR holding JSON text)
#   8 sentences (a call's sentences and their embeddings), example_embeddings (rubric examples)
#   9 reviews (append-only audit of human answers), final_scorecards/final_results/final_sections
#     (the scorecard with human answers in place of the machine's), review_queue
#  10 turns.tokens, calls.analyser (each turn's tokens, lemmas and norms, and what made them)
SCHEMA_VERSION = 10
LOCK_WAIT_S = 10.0
"""Seconds a command keeps trying to open a database another process holds (a `qa serve`
request or a batch writing one call holds it for a moment)."""

_SCHEMA_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)"

# version -> statements that bring a database of the version before to it (run in one transaction).
# Every step is idempotent (IF NOT EXISTS, or a change that does nothing the second time), so a
# database that an unversioned release half-upgraded (e.g. made before `holds`, then opened by the
# release that added the role columns) is completed.
MIGRATIONS: dict[int, list[str]] = {
    2: ["ALTER TABLE scorecards ADD COLUMN IF NOT EXISTS metrics VARCHAR"],
    3: ["ALTER TABLE calls ADD COLUMN IF NOT EXISTS redactions VARCHAR"],
    4: ["ALTER TABLE calls ADD COLUMN IF NOT EXISTS holds VARCHAR"],
    5: [f"ALTER TABLE calls ADD COLUMN IF NOT EXISTS {column}"
        for column in ("speakers INTEGER", "agent_speaker VARCHAR", "role_method VARCHAR",
                       "role_confidence DOUBLE", "role_detail VARCHAR", "voice_similarity VARCHAR")] + [
        """CREATE TABLE IF NOT EXISTS speaker_spans (
            call_id VARCHAR NOT NULL, start_s DOUBLE, end_s DOUBLE, speaker VARCHAR)""",
        """CREATE TABLE IF NOT EXISTS voiceprints (
            agent VARCHAR PRIMARY KEY, embedding FLOAT[], source VARCHAR, speech_s DOUBLE, enrolled_at TIMESTAMP)""",
    ],
    6: [
        "ALTER TABLE failures ADD COLUMN IF NOT EXISTS agent VARCHAR",
        "UPDATE failures SET agent = calls.agent FROM calls "
        "WHERE failures.agent IS NULL AND failures.call_id = calls.call_id",
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS status VARCHAR",
        # no run of an older release can still be going: this process holds the only write lock
        "UPDATE runs SET status = CASE WHEN finished_at IS NULL THEN 'interrupted' ELSE 'finished' END "
        "WHERE status IS NULL",
    ],
    # the text already is JSON (json.dumps of the metrics, or 'null'); DuckDB's JSON reads NaN too
    7: ["ALTER TABLE scorecards ALTER COLUMN metrics SET DATA TYPE JSON"],
    # calls stored before have no sentences: they are embedded when a rubric's meaning check needs them
    8: [
        """CREATE TABLE IF NOT EXISTS sentences (
            call_id VARCHAR NOT NULL, sentence_index INTEGER NOT NULL, turn_index INTEGER NOT NULL,
            start_char INTEGER NOT NULL, end_char INTEGER NOT NULL, start_s DOUBLE NOT NULL, end_s DOUBLE NOT NULL,
            model VARCHAR NOT NULL, embedding BLOB NOT NULL, PRIMARY KEY (call_id, sentence_index))""",
        """CREATE TABLE IF NOT EXISTS example_embeddings (
            model VARCHAR NOT NULL, text VARCHAR NOT NULL, embedding BLOB NOT NULL, PRIMARY KEY (model, text))""",
    ],
    9: [_REVIEW_TABLES, "ALTER TABLE runs ADD COLUMN IF NOT EXISTS host VARCHAR",
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS pid INTEGER"],
    # calls stored before have no tokens: rescoring analyses their text (and stores the tokens)
    10: ["ALTER TABLE calls ADD COLUMN IF NOT EXISTS analyser VARCHAR",
         "ALTER TABLE turns ADD COLUMN IF NOT EXISTS tokens VARCHAR"],
}

# How a database made before versions were recorded shows its version: (version, table, column).
_LEGACY_MARKS = [(2, "scorecards", "metrics"), (3, "calls", "redactions"), (4, "calls", "holds"),
                 (5, "calls", "voice_similarity"), (5, "speaker_spans", "call_id"), (5, "voiceprints", "agent")]

_FINAL_TABLES = ("final_results", "final_sections", "final_scorecards")
_CALL_TABLES = ("evidence", "criterion_results", "section_scores", "scorecards", *_FINAL_TABLES, "reviews",
                "review_queue", "turns", "sentences", "speaker_spans", "calls")
_SCORE_TABLES = ("evidence", "criterion_results", "section_scores", "scorecards", *_FINAL_TABLES)

RUN_STATUSES = ("running", "finished", "interrupted", "stopped")


class StoreError(Exception):
    """The database cannot be opened or written; the message says which file and why."""


CallInfo = CallRecord  # the name callers of the store used before the record type was shared


@dataclass
class StoredSentences:
    """A call's sentences as stored, all embedded by `model` (`scoring.meaning.model_id`): per
    sentence (turn_index, start_char, end_char, start_s, end_s), its text being the turn's
    text[start_char:end_char] (not stored twice), and its vector, a row of `vectors`."""

    model: str
    spans: list[tuple[int, int, int, float, float]]
    vectors: np.ndarray  # (sentences, dim) float16


@dataclass
class StoredTokens:
    """A call's text analysis as stored: what made it (`scoring.text.analyser_id`) and each
    turn's tokens as `scoring.text.TurnTokens.dumps` writes them, in turn order."""

    analyser: str
    turns: list[str]


@dataclass
class StoredCall:
    """One call as `Store.save_calls` writes it: its record (with call id, file and content
    hash), transcript, sentences, machine scorecard, and final scorecard with the ids of the
    reviews giving its human answers (None: not reviewed)."""

    record: CallRecord
    transcript: Transcript
    scorecard: Scorecard | None = None
    sentences: StoredSentences | None = None
    final: tuple[Scorecard, dict[str, int]] | None = None
    tokens: StoredTokens | None = None


@dataclass
class FetchedCalls:
    """Stored calls as read (`Store.fetch_calls`): rows of calls, turns, speaker spans and
    sentences, each in call id order. `decode` makes the `StoredCall`s; `split` cuts them into
    parts of whole calls (rescoring hands each part to a worker process, which decodes it)."""

    calls: list[dict]
    turns: list[tuple]  # (call_id, speaker, role, start_s, end_s, text, words, tokens)
    spans: list[tuple]  # (call_id, start_s, end_s, speaker)
    sentences: list[tuple]  # (call_id, model, turn_index, start_char, end_char, start_s, end_s, embedding)
    tokens: bool = False
    lazy_words: bool = False

    def split(self, parts: int) -> list["FetchedCalls"]:
        """At most `parts` pieces of about as many calls each, in order."""
        size = max(1, -(-len(self.calls) // max(1, parts)))
        pieces, at = [], {"turns": 0, "spans": 0, "sentences": 0}
        for first in range(0, len(self.calls), size):
            calls = self.calls[first:first + size]
            last = calls[-1]["call_id"]
            piece = {}
            for name in at:
                rows, start = getattr(self, name), at[name]
                end = start
                while end < len(rows) and rows[end][0] <= last:
                    end += 1
                piece[name], at[name] = rows[start:end], end
            pieces.append(FetchedCalls(calls, **piece, tokens=self.tokens, lazy_words=self.lazy_words))
        return pieces

    def decode(self) -> list[StoredCall]:
        """The calls with their transcripts (and stored text analysis and sentences, if read)."""
        import numpy as np

        roles = {role.value: role for role in Role}
        turns: dict[str, list[Turn]] = {}
        analysis: dict[str, list[str | None]] = {}
        lazy = self.lazy_words
        for call_id, speaker, role, start, end, text, words, turn_tokens in self.turns:
            turns.setdefault(call_id, []).append(Turn(
                speaker=speaker, role=roles[role], start=start, end=end, text=text,
                words=StoredWords(words, speaker) if lazy else _words(words, speaker)))
            analysis.setdefault(call_id, []).append(turn_tokens)
        spans: dict[str, list[SpeakerSpan]] = {}
        for call_id, start, end, speaker in self.spans:
            spans.setdefault(call_id, []).append(SpeakerSpan(start, end, speaker))
        rows: dict[str, list[tuple]] = {}
        for row in self.sentences:
            rows.setdefault(row[0], []).append(row)
        out = []
        for c in self.calls:
            call_id = c["call_id"]
            info = CallRecord(call_id=call_id, file=c["file"], content_hash=c["content_hash"],
                              agent=c["agent"], team=c["team"], call_date=c["call_date"], language=c["language"])
            transcript = Transcript(turns=turns.get(call_id, []), language=c["language"],
                                    duration=c["duration_s"], language_probability=c["language_probability"],
                                    channels=c["channels"], model=c["model"], warnings=json.loads(c["warnings"] or "[]"),
                                    holds=[tuple(h) for h in json.loads(c["holds"] or "[]")],
                                    speaker_spans=spans.get(call_id, []),
                                    voice_similarity=json.loads(c["voice_similarity"] or "{}"),
                                    role_decision=_role_decision(c))
            texts = analysis.get(call_id, [])
            found = (StoredTokens(c["analyser"], texts) if self.tokens and c.get("analyser") and texts
                     and None not in texts else None)
            sentence_rows = rows.get(call_id)
            sentences = None if not sentence_rows else StoredSentences(
                sentence_rows[0][1], [r[2:7] for r in sentence_rows],
                np.frombuffer(b"".join(r[7] for r in sentence_rows), dtype=np.float16).reshape(len(sentence_rows), -1))
            out.append(StoredCall(info, transcript, sentences=sentences, tokens=found))
        return out


@dataclass(frozen=True)
class NewReview:
    """A human answer for one criterion of one scored call, as `Store.save_reviews` appends it.

    outcome: pass, fail or na; machine_outcome and previous_outcome: the machine's answer and the
    final answer before this one. source: "review" (the workbench) or "import" (a CSV file)."""

    call_id: str
    rubric_hash: str
    criterion_id: str
    reviewer: str
    outcome: str
    reason: str | None = None
    comment: str | None = None
    machine_outcome: str | None = None
    previous_outcome: str | None = None
    source: str = "review"
    reviewed_at: datetime | None = None  # None: now


@dataclass
class Forgotten:
    """What `Store.forget` removed."""

    call_ids: list[str]
    rows: dict[str, int]  # table -> rows deleted

    @property
    def total(self) -> int:
        return sum(self.rows.values())


_HOST = socket.gethostname()


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _is_fault(exc: BaseException) -> bool:
    """A fault of the database file (disk full, I/O error, database invalidated by one), not of a
    statement: it is reported as a StoreError line rather than as one call's failure."""
    if isinstance(exc, (duckdb.IOException, duckdb.FatalException)):
        return True
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and ("could not write" in text or "invalidated" in text)


class Store(ReadModel):
    """One DuckDB file. Use as a context manager or call close(). The read methods of the
    reports and exports come from `qa.store_read.ReadModel`."""

    def __init__(self, path: str | Path, read_only: bool = False, *, hold: bool = True,
                 wait_s: float = LOCK_WAIT_S):
        """path: the DuckDB file (created with the schema when it does not exist).
        read_only: open for reading only; an older file is upgraded first with a write open.
        hold: keep the file open until `close`. False: give it back after every transaction and
            whenever `release` is called (it is opened again on the next use), so another
            process (`qa serve`, a batch) can use the file in between.
        wait_s: how long to keep trying when another process holds the file, before the
            StoreError that names it."""
        self.path = Path(path)
        self.read_only = read_only
        self.hold = hold
        self.wait_s = wait_s
        self.fault: StoreError | None = None  # the first write the file refused
        self._con: duckdb.DuckDBPyConnection | None = None
        self._depth = 0  # open transactions (the connection is kept while one is open)
        self._types: dict[str, dict[str, str]] = {}  # table -> column -> DuckDB type
        if read_only and not self.path.is_file():
            raise StoreError(f"{self.path}: database not found (score some calls first with `qa score`)")
        self.con = self._connect(read_only)
        try:
            version = self._version()
            self._check_not_newer(version)
            if read_only and version == 0:
                raise StoreError(f"{self.path}: not a qa database (it holds no calls); "
                                 "score some calls into it first with `qa score`")
            if read_only and version < SCHEMA_VERSION:
                self.con.close()
                self._upgrade_for_reading(version)
                self.con = self._connect(True)
                self._check_not_newer(self._version())
            elif not read_only:
                self._migrate(version)
                self._mark_interrupted_runs()
        except BaseException:
            self.con.close()
            raise

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection; opened again (waiting for other processes) after `release`."""
        if self._con is None:
            self._con = self._connect(self.read_only)
        return self._con

    @con.setter
    def con(self, value: duckdb.DuckDBPyConnection | None) -> None:
        self._con = value

    def release(self) -> None:
        """Close the file until the next use, so other processes can open it (not inside a
        transaction). The next read or write opens it again."""
        if self._con is not None and self._depth == 0:
            con, self._con = self._con, None
            try:
                con.close()
            except duckdb.Error as exc:
                if self.fault is None and not self.read_only:
                    raise self._write_error(exc) from None

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline, pause = time.monotonic() + self.wait_s, 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    return self._refuse(exc)
            except duckdb.Error as exc:
                return self._refuse(exc)
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.25)

    def _refuse(self, exc: duckdb.Error):
        """The StoreError for a file that cannot be opened."""
        if isinstance(exc, duckdb.IOException):
            if "lock" in str(exc).lower():
                holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
                who = f"{holder.group(1)} (PID {holder.group(2)})" if holder else "another process"
                raise StoreError(
                    f"{self.path}: database is in use by another process: {who}; "
                    "wait for it to finish (or stop it), then run again, or use another --db"
                ) from None
            raise StoreError(f"{self.path}: cannot open database ({_first_line(exc)})") from None
        raise StoreError(f"{self.path}: not a usable DuckDB database ({_first_line(exc)})") from None

    # -- schema versions ---------------------------------------------------------------

    def _columns(self) -> dict[str, set[str]]:
        rows = self.con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'main'").fetchall()
        tables: dict[str, set[str]] = {}
        for table, column in rows:
            tables.setdefault(table, set()).add(column)
        return tables

    def _version(self) -> int:
        """The schema version of the open file: 0 for a file without our tables, the recorded
        version, or for a file of a release before versions were recorded, the newest version
        whose every change it has."""
        tables = self._columns()
        if "schema_version" in tables:
            return self.con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
        if "calls" not in tables:
            return 0
        version = 1
        for step, table, column in _LEGACY_MARKS:
            if column not in tables.get(table, ()):
                return min(version, step - 1)
            version = step
        return version

    def _check_not_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: database schema version {version} is newer than this qa knows "
                             f"(up to {SCHEMA_VERSION}); use the callqa release that wrote it, or a newer one")

    def _migrate(self, version: int) -> None:
        """Bring the file to SCHEMA_VERSION: a new file gets the schema, an older one each
        released version after its own in order, each in one transaction."""
        self._types.clear()
        if version == 0:
            with self._transaction():
                self.con.execute(SCHEMA)
                self.con.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                                 [SCHEMA_VERSION, _now()])
            return
        for step in sorted(MIGRATIONS):
            if step <= version:
                continue
            try:
                with self._transaction():
                    self.con.execute(_SCHEMA_VERSION_TABLE)
                    for statement in MIGRATIONS[step]:
                        self.con.execute(statement)
                    self.con.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                                     [step, _now()])
            except duckdb.Error as exc:
                raise StoreError(f"{self.path}: cannot upgrade the database from schema version {step - 1} "
                                 f"to {step} ({_first_line(exc)}); it is left at version {step - 1}") from None

    def _upgrade_for_reading(self, version: int) -> None:
        """A read-only open of an older file: upgrade it with a write open first."""
        try:
            Store(self.path).close()
        except StoreError as exc:
            if "in use by another process" in str(exc):
                raise
            raise StoreError(
                f"{self.path}: database made by an older release (schema version {version}, this qa uses "
                f"{SCHEMA_VERSION}) and it could not be upgraded here ({exc}); run a command that writes to it, "
                "such as `qa rescore`, with write access to the file, then run this again") from None

    def _mark_interrupted_runs(self) -> None:
        """Runs still 'running' whose process is gone stopped without finishing (Ctrl-C, kill,
        power cut). A run of a live process on this machine (a batch that gives the file back
        between calls) is left running; one recorded without its process, or by another
        machine, is taken as gone."""
        running = self.con.execute("SELECT run_id, host, pid FROM runs WHERE status = 'running'").fetchall()
        dead = [run_id for run_id, host, pid in running if not (host == _HOST and pid and _alive(pid))]
        if dead:
            with self._transaction():
                self.con.execute("UPDATE runs SET status = 'interrupted' WHERE list_contains(?, run_id)", [dead])

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._depth = 0
        self.release()

    # -- writing -----------------------------------------------------------------------

    def save_rubric(self, rubric: Rubric, yaml_text: str) -> None:
        """Store a rubric version (once per content hash) with its criteria."""
        exists = self.con.execute(
            "SELECT 1 FROM rubrics WHERE rubric_hash = ?", [rubric.content_hash]
        ).fetchall()
        if exists:
            return
        rows = [
            (rubric.content_hash, i, s.id, s.title, c.id, c.title, c.points, c.critical, c.coaching)
            for i, (s, c) in enumerate(rubric.criteria())
        ]
        with self._transaction():
            self._insert("rubrics", ("rubric_hash", "rubric_id", "name", "pass_mark", "yaml_text", "stored_at"),
                         [[rubric.content_hash, rubric.id, rubric.name, rubric.pass_mark, yaml_text, _now()]])
            self._insert("criteria", ("rubric_hash", "position", "section_id", "section_name", "criterion_id",
                                      "name", "points", "critical", "coaching"), [list(r) for r in rows])

    def save_call(self, info: CallRecord, transcript: Transcript, scorecard: Scorecard | None,
                  run_id: str | None = None, sentences: StoredSentences | None = None,
                  final: tuple[Scorecard, dict[str, int]] | None = None,
                  tokens: StoredTokens | None = None) -> None:
        """Write one call's record, transcript, text analysis, sentences and scorecard in one transaction,
        replacing earlier rows (the sentences of the transcript before too). ValueError when the
        record lacks its call id, file or content hash."""
        self.save_calls([StoredCall(info, transcript, scorecard, sentences, final, tokens)], run_id)

    def save_calls(self, calls: list[StoredCall], run_id: str | None = None) -> None:
        """Write many calls (record, transcript, sentences, scorecard, final scorecard) in one
        transaction, each table's rows in one statement, replacing the calls' earlier rows and
        clearing their files' failures. ValueError, before anything is written, when a record
        lacks its call id, file or content hash."""
        for call in calls:
            info = call.record
            missing = [name for name in ("call_id", "file", "content_hash") if not getattr(info, name)]
            if missing:
                raise ValueError(f"call record {info.call_id or info.file!r} cannot be stored without "
                                 f"{' and '.join(missing)}")
        if not calls:
            return
        with self._transaction():
            self._write_transcripts([(c.record, c.transcript, c.tokens) for c in calls])
            sentences = {c.record.call_id: c.sentences for c in calls if c.sentences is not None}
            if sentences:
                self._write_sentences(sentences)
            self._write_scorecards([(c.record.call_id, c.scorecard) for c in calls if c.scorecard is not None],
                                   run_id)
            self._write_finals([(c.record.call_id, *c.final) for c in calls
                                if c.scorecard is not None and c.final is not None])
            self.con.execute("DELETE FROM failures WHERE list_contains(?, file)", [[c.record.file for c in calls]])

    def save_scorecards(self, cards: list[tuple[str, Scorecard]], run_id: str | None = None,
                        sentences: dict[str, StoredSentences] | None = None,
                        finals: list[tuple[str, Scorecard, dict[str, int]]] = (),
                        tokens: dict[str, StoredTokens] | None = None) -> None:
        """Write (or replace) scorecards of stored calls, the final scorecards of those with
        reviews (see `save_reviews`), and (replace) the `sentences` and text analysis (`tokens`)
        of calls (call_id -> sentences or tokens), all in one transaction."""
        with self._transaction():
            self._write_scorecards(cards, run_id)
            self._write_finals(list(finals))
            if sentences:
                self._write_sentences(sentences)
            if tokens:
                self._write_tokens(tokens)

    def save_example_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        """Store (or replace) the vectors of rubric example texts (text -> vector) embedded by
        `model`, as float16."""
        import numpy as np

        if not vectors:
            return
        with self._transaction():
            self.con.execute("DELETE FROM example_embeddings WHERE model = ? AND list_contains(?, text)",
                             [model, list(vectors)])
            self._insert("example_embeddings", ("model", "text", "embedding"),
                         [(model, text, np.asarray(v, dtype=np.float16).tobytes()) for text, v in vectors.items()])

    def record_failure(self, file: str, call_id: str | None, reason: str, run_id: str | None,
                       agent: str | None = None) -> None:
        """Remember that a file could not be processed, replacing its earlier failure."""
        with self._transaction():
            self.con.execute("DELETE FROM failures WHERE file = ?", [file])
            self._insert("failures", ("file", "call_id", "reason", "run_id", "failed_at", "agent"),
                         [[file, call_id, reason, run_id, _now(), agent]])

    def forget(self, call_ids: list[str] = (), agents: list[str] = ()) -> Forgotten:
        """Remove every row naming these calls, or these agents and their calls: transcripts,
        sentences, speaker spans, scores, evidence, failures (by call, agent or the calls' files) and the
        agents' voiceprints. The database file is written again without those rows and put in
        place of the old one (see `_rewrite`), so the text is gone from the disk too, not only
        from the tables. All or nothing: on a fault the old file stays as it was.
        Returns the calls matched and the rows removed per table."""
        call_ids, agents = [str(c) for c in call_ids], [str(a) for a in agents]
        ids = {r[0] for r in self.con.execute(
            "SELECT call_id FROM calls WHERE list_contains(?, call_id) OR list_contains(?, agent) "
            "UNION SELECT call_id FROM failures "
            "WHERE call_id IS NOT NULL AND (list_contains(?, call_id) OR list_contains(?, agent))",
            [call_ids, agents, call_ids, agents]).fetchall()}
        for table in _CALL_TABLES:  # rows of a call whose calls row is missing
            ids |= {r[0] for r in self.con.execute(
                f"SELECT DISTINCT call_id FROM {table} WHERE list_contains(?, call_id)", [call_ids]).fetchall()}
        ids = sorted(ids)
        files = [r[0] for r in self.con.execute(
            "SELECT DISTINCT file FROM calls WHERE list_contains(?, call_id)", [ids]).fetchall()]
        drop = {table: ("list_contains(?, call_id)", [ids]) for table in _CALL_TABLES}
        drop["failures"] = ("list_contains(?, call_id) OR list_contains(?, agent) OR list_contains(?, file)",
                            [ids, agents, files])
        drop["voiceprints"] = ("list_contains(?, agent)", [agents])
        rows = {table: self.con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchall()[0][0]
                for table, (where, params) in drop.items()}
        result = Forgotten(call_ids=ids, rows=rows)
        if result.total:
            self._rewrite(drop, "nothing was forgotten")
        return result

    def compact(self) -> None:
        """Write the database file again holding only its live rows (see `_rewrite`)."""
        self._rewrite({}, "the database is left as it was")

    def _rewrite(self, drop: dict[str, tuple[str, list]], on_fault: str) -> None:
        """Write the database into a new file next to it without the rows that `drop` selects
        (table -> parameterised condition), then put it in place of the old file.

        DuckDB leaves the bytes of deleted rows in the file (CHECKPOINT and VACUUM do not
        overwrite them), so a DELETE alone leaves forgotten text readable with `grep -a`. Here the
        old file is only read: the new one gets the schema (COPY FROM DATABASE ... (SCHEMA)) and
        the rows to keep in one transaction; the old file is checkpointed and closed, so no
        write-ahead log is left for it, and the new one replaces it with an atomic rename. On a
        fault the new file is removed and the old one stays as it was."""
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only, cannot be rewritten")
        tmp = self.path.with_name(self.path.name + ".rewrite")
        tmp_wal = Path(f"{tmp}.wal")
        wal = Path(f"{self.path}.wal")
        for leftover in (tmp, tmp_wal):
            leftover.unlink(missing_ok=True)
        closed = False
        try:
            self.con.execute("CHECKPOINT")
            source = _identifier(self.con.execute("SELECT current_database()").fetchall()[0][0])
            tables: dict[str, list[str]] = {}
            for table, column in self.con.execute(
                    "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
                    "AND schema_name = 'main' ORDER BY table_name, column_index").fetchall():
                tables.setdefault(table, []).append(_identifier(column))
            self.con.execute("ATTACH ? AS callqa_rewrite", [str(tmp)])
            try:
                self.con.execute(f"COPY FROM DATABASE {source} TO callqa_rewrite (SCHEMA)")
                self.con.execute("BEGIN TRANSACTION")
                for table, columns in tables.items():
                    where, params = drop.get(table, ("false", []))
                    names = ", ".join(columns)
                    self.con.execute(
                        f"INSERT INTO callqa_rewrite.main.{_identifier(table)} ({names}) "
                        f"SELECT {names} FROM {source}.main.{_identifier(table)} WHERE NOT coalesce(({where}), false)",
                        params)
                self.con.execute("COMMIT")
            except BaseException:
                try:
                    self.con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                raise
            finally:
                self.con.execute("DETACH callqa_rewrite")
            self.con.close()
            closed = True
            if wal.exists() and wal.stat().st_size:
                raise OSError(f"its write-ahead log {wal} was not emptied")
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
            wal.unlink(missing_ok=True)
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except (duckdb.Error, OSError) as exc:
            for leftover in (tmp, tmp_wal):
                leftover.unlink(missing_ok=True)
            reason = (_os_reason(exc) if isinstance(exc, duckdb.Error)
                      else (exc.strerror or str(exc)) if exc.errno else str(exc))
            if closed:
                self.con = self._connect(False)
            raise StoreError(f"{self.path}: cannot write the database again ({_lower_first(reason)}); "
                             f"{on_fault}") from None
        self.con = self._connect(False)

    def save_voiceprint(self, agent: str, embedding: list[float], source: str, speech_s: float) -> None:
        """Enrol (or replace) an agent's voiceprint."""
        with self._transaction():
            self.con.execute("DELETE FROM voiceprints WHERE agent = ?", [agent])
            self._insert("voiceprints", ("agent", "embedding", "source", "speech_s", "enrolled_at"),
                         [[agent, [float(v) for v in embedding], source, speech_s, _now()]])

    def voiceprint(self, agent: str | None) -> list[float] | None:
        """An agent's enrolled voiceprint, or None."""
        if not agent:
            return None
        rows = self.con.execute("SELECT embedding FROM voiceprints WHERE agent = ?", [agent]).fetchall()
        row = rows[0] if rows else None
        return list(row[0]) if row else None

    def start_run(self, run_id: str, rubric_hash: str, model: str, files: int) -> None:
        with self._transaction():
            self._insert("runs", ("run_id", "started_at", "finished_at", "rubric_hash", "model", "files", "scored",
                                  "failed", "status", "host", "pid"),
                         [[run_id, _now(), None, rubric_hash, model, files, 0, 0, "running", _HOST, os.getpid()]])

    def finish_run(self, run_id: str, scored: int, failed: int, status: str = "finished") -> None:
        """Record how a run ended: 'finished', 'interrupted' (Ctrl-C) or 'stopped' (by an error).
        A run that did not finish is recorded as far as the file lets: when it cannot be written
        (the disk is full), the run stays 'running' and the next open for writing marks it
        interrupted; the error that stopped the batch is the one reported."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        try:
            with self._transaction():
                self.con.execute("UPDATE runs SET finished_at = ?, scored = ?, failed = ?, status = ? WHERE run_id = ?",
                                 [_now(), scored, failed, status, run_id])
        except StoreError:
            if status == "finished":
                raise

    def _transaction(self):
        return _Transaction(self)

    def _write_error(self, exc: BaseException) -> StoreError:
        """One line for a write the database file refused, naming the file and the OS error."""
        reason = _lower_first(_os_reason(exc))
        if "no space left" in reason or "quota" in reason:
            hint = "free some space and run the same command again"
        elif "too large" in reason:
            hint = "the file size limit (ulimit -f) is reached; raise it and run the same command again"
        else:
            hint = "run the same command again once that is fixed"
        error = StoreError(f"{self.path}: cannot write to the database: {reason}; {hint} "
                           "(calls stored before are kept)")
        self.fault = self.fault or error
        return error

    def _write_transcripts(self, calls: list[tuple[CallRecord, Transcript, StoredTokens | None]]) -> None:
        """Replace the records, turns with their tokens, speaker spans (and drop the sentences) of
        these calls."""
        ids = [info.call_id for info, _, _ in calls]
        for table in ("turns", "sentences", "speaker_spans", "calls"):
            self.con.execute(f"DELETE FROM {table} WHERE list_contains(?, call_id)", [ids])
        now = _now()
        records, spans, turns = [], [], []
        for info, t, tokens in calls:
            if tokens is not None and len(tokens.turns) != len(t.turns):
                tokens = None
            role = t.role_decision
            records.append([
                info.call_id, info.file, info.content_hash, info.agent, info.team, info.call_date,
                t.duration, t.language, t.language_probability, t.channels, t.model,
                json.dumps(t.warnings), json.dumps(info.redactions), json.dumps(t.holds), now,
                len(t.speakers), role.agent_speaker if role else None, role.method if role else None,
                role.confidence if role else None, role.detail if role else None,
                json.dumps(t.voice_similarity) if t.voice_similarity else None, tokens and tokens.analyser])
            spans += [(info.call_id, s.start, s.end, s.speaker) for s in t.speaker_spans]
            turns += [(info.call_id, i, turn.speaker, turn.role.value, turn.start, turn.end, turn.text,
                       json.dumps([[w.text, w.start, w.end, w.probability] for w in turn.words]),
                       tokens.turns[i] if tokens else None)
                      for i, turn in enumerate(t.turns)]
        self._insert("calls", (
            "call_id", "file", "content_hash", "agent", "team", "call_date", "duration_s", "language",
            "language_probability", "channels", "model", "warnings", "redactions", "holds", "transcribed_at",
            "speakers", "agent_speaker", "role_method", "role_confidence", "role_detail", "voice_similarity",
            "analyser"), records)
        self._insert("speaker_spans", ("call_id", "start_s", "end_s", "speaker"), spans)
        self._insert("turns", ("call_id", "turn_index", "speaker", "role", "start_s", "end_s", "text", "words",
                               "tokens"), turns)

    def _write_tokens(self, calls: dict[str, StoredTokens]) -> None:
        """Replace the text analysis of stored calls (one token text per stored turn)."""
        ids, indices, texts = [], [], []
        for call_id, tokens in calls.items():
            ids += [call_id] * len(tokens.turns)
            indices += range(len(tokens.turns))
            texts += tokens.turns
        self.con.execute("UPDATE turns SET tokens = t.tokens FROM (SELECT unnest(?::VARCHAR[]) AS call_id, "
                         "unnest(?::INTEGER[]) AS turn_index, unnest(?::VARCHAR[]) AS tokens) AS t "
                         "WHERE turns.call_id = t.call_id AND turns.turn_index = t.turn_index",
                         [ids, indices, texts])
        self.con.execute("UPDATE calls SET analyser = t.analyser FROM (SELECT unnest(?::VARCHAR[]) AS call_id, "
                         "unnest(?::VARCHAR[]) AS analyser) AS t WHERE calls.call_id = t.call_id",
                         [list(calls), [t.analyser for t in calls.values()]])

    def _write_sentences(self, calls: dict[str, StoredSentences]) -> None:
        """Replace the sentences of these calls: one row each, its vector a float16 BLOB."""
        import numpy as np

        self.con.execute("DELETE FROM sentences WHERE list_contains(?, call_id)", [list(calls)])
        columns = {"call_id": "VARCHAR", "sentence_index": "INTEGER", "turn_index": "INTEGER",
                   "start_char": "INTEGER", "end_char": "INTEGER", "start_s": "DOUBLE", "end_s": "DOUBLE",
                   "model": "VARCHAR", "embedding": "BLOB"}
        values: list[list] = [[] for _ in columns]
        for call_id, stored in calls.items():
            vectors = np.asarray(stored.vectors, dtype=np.float16)
            for i, (span, vector) in enumerate(zip(stored.spans, vectors)):
                for column, value in zip(values, (call_id, i, *span, stored.model, vector.tobytes())):
                    column.append(value)
        if values[0]:
            _insert_columns(self.con, "sentences", columns, values)

    def _insert(self, table: str, columns: tuple[str, ...], rows: list) -> None:
        """Insert rows into the named columns in one statement that reads them as a pandas
        DataFrame (far faster than rows of VALUES or list parameters; a missing number is NULL)."""
        if not rows:
            return
        import pandas as pd

        frame = pd.DataFrame.from_records(rows, columns=list(columns))
        name = f"incoming_{table}"
        self.con.register(name, frame)
        try:
            self.con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM {name}")
        finally:
            self.con.unregister(name)

    def _column_types(self, table: str) -> dict[str, str]:
        """Column name -> DuckDB type of one of the store's tables (read once per connection)."""
        if table not in self._types:
            self._types[table] = dict(self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                "AND table_schema = current_schema()", [table]).fetchall())
        return self._types[table]

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
                                     json.dumps(card.flags), _metrics_json(card), now, run_id])
            sections += [key + [s.section_id, s.name, s.weight, s.points_awarded, s.points_possible]
                         for s in card.sections]
            results += [key + [r.section_id, r.criterion_id, r.name, r.outcome.value, r.points_awarded,
                               r.points_possible, r.critical, r.note] for r in card.results]
            evidence += [key + [r.criterion_id, i, e.kind, e.quote, e.role, e.start, e.end]
                         for r in card.results for i, e in enumerate(r.evidence)]
        key = ("call_id", "rubric_hash")
        for table, columns, rows in (
                ("scorecards", key + ("rubric_id", "score", "passed", "auto_failed", "pass_mark", "flags", "metrics",
                                      "scored_at", "run_id"), scorecards),
                ("section_scores", key + ("section_id", "name", "weight", "points_awarded", "points_possible"),
                 sections),
                ("criterion_results", key + ("section_id", "criterion_id", "name", "outcome", "points_awarded",
                                             "points_possible", "critical", "note"), results),
                ("evidence", key + ("criterion_id", "evidence_index", "kind", "quote", "role", "start_s", "end_s"),
                 evidence)):
            if rows:
                self._insert(table, columns, rows)

    # -- reviews -----------------------------------------------------------------------

    def save_reviews(self, reviews: list[NewReview], finals: list[tuple[str, Scorecard, dict[str, int]]]) -> list[int]:
        """Append reviews to the audit table (rows are never updated; only `forget` deletes them)
        and replace the final scorecards of their calls, in one transaction. finals: (call_id,
        scorecard with the human answers in place, criterion_id -> id of the review giving its
        answer, where -1 - i names the i-th review of this batch). The new review ids, in order."""
        with self._transaction():
            first = self.con.execute("SELECT coalesce(max(review_id), 0) + 1 FROM reviews").fetchall()[0][0]
            ids = list(range(first, first + len(reviews)))
            now = _now()
            if reviews:
                self._insert("reviews", ("review_id", "call_id", "rubric_hash", "criterion_id", "reviewer",
                                         "reviewed_at", "machine_outcome", "previous_outcome", "outcome", "reason",
                                         "comment", "source"),
                             [[i, r.call_id, r.rubric_hash, r.criterion_id, r.reviewer, r.reviewed_at or now,
                               r.machine_outcome, r.previous_outcome, r.outcome, r.reason, r.comment, r.source]
                              for i, r in zip(ids, reviews)])
            self._write_finals([(call_id, card, {c: ids[-1 - v] if v < 0 else v for c, v in by.items()})
                                for call_id, card, by in finals])
        return ids

    def _write_finals(self, finals: list[tuple[str, Scorecard, dict[str, int]]]) -> None:
        """Replace the final scorecards (totals, results, sections) of these calls."""
        now = _now()
        for call_id, card, _ in finals:
            for table in _FINAL_TABLES:
                self.con.execute(f"DELETE FROM {table} WHERE call_id = ? AND rubric_hash = ?",
                                 [call_id, card.rubric_hash])
        rows: dict[str, list] = {"final_scorecards": [], "final_results": [], "final_sections": []}
        for call_id, card, review_ids in finals:
            key = [call_id, card.rubric_hash]
            rows["final_scorecards"].append(key + [card.score, card.passed, card.auto_failed, json.dumps(card.flags),
                                                   len(review_ids), now])
            rows["final_results"] += [key + [r.criterion_id, r.outcome.value, r.points_awarded, r.points_possible,
                                             review_ids.get(r.criterion_id)] for r in card.results]
            rows["final_sections"] += [key + [x.section_id, x.points_awarded, x.points_possible] for x in card.sections]
        key = ("call_id", "rubric_hash")
        for table, columns in (
                ("final_scorecards", key + ("score", "passed", "auto_failed", "flags", "reviewed", "updated_at")),
                ("final_results", key + ("criterion_id", "outcome", "points_awarded", "points_possible", "review_id")),
                ("final_sections", key + ("section_id", "points_awarded", "points_possible"))):
            if rows[table]:
                self._insert(table, columns, rows[table])

    def queue_for_review(self, picks: list[tuple[str, str, str, str]]) -> int:
        """Add (call_id, rubric_hash, reason, period) to the review queue (a call already queued
        for that version keeps its entry); how many were added."""
        with self._transaction():
            before = self.con.execute("SELECT count(*) FROM review_queue").fetchall()[0][0]
            now = _now()
            for call_id, rubric_hash, reason, period in picks:
                self.con.execute("INSERT INTO review_queue (call_id, rubric_hash, reason, period, sampled_at) "
                                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                 [call_id, rubric_hash, reason, period, now])
            return self.con.execute("SELECT count(*) FROM review_queue").fetchall()[0][0] - before

    # -- reading (what reports and table exports read: qa/store_read.py) --------------

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows of a parameterised query as dicts: for tests and inspecting a database by hand.
        The application reads through the named methods, so table and column names stay here."""
        return self._rows(sql, params)

    def load_transcripts(self, call_ids: list[str] | None = None) -> list[tuple[CallRecord, Transcript]]:
        """Stored calls (all, or those in `call_ids`) with their transcripts, in three queries. A
        record's language is the stored transcript's; redactions and agent_channel are not read."""
        return [(c.record, c.transcript) for c in self.load_calls(call_ids)]

    def stored_call_ids(self) -> list[str]:
        """Every stored call's id, in order."""
        return [row[0] for row in self.con.execute("SELECT call_id FROM calls ORDER BY call_id").fetchall()]

    def load_calls(self, call_ids: list[str] | None = None, *, between: tuple[str, str] | None = None,
                   tokens: bool = False, sentences: bool = False, lazy_words: bool = False) -> list[StoredCall]:
        """Stored calls with their transcripts, in call id order: all, those in `call_ids`, or
        those with ids in the closed range `between` (how rescoring pages through a large store).
        `tokens`: with each call's stored text analysis (None where it has none); `sentences`:
        with its stored sentences (None where none); `lazy_words`: each turn's words are decoded
        on first use (`StoredWords`). Scorecards are not read."""
        return self.fetch_calls(call_ids, between=between, tokens=tokens, sentences=sentences,
                                lazy_words=lazy_words).decode()

    def fetch_calls(self, call_ids: list[str] | None = None, *, between: tuple[str, str] | None = None,
                    tokens: bool = False, sentences: bool = False, lazy_words: bool = False) -> "FetchedCalls":
        """What `load_calls` reads, as plain rows (cheap to hand to another process, which
        decodes them)."""
        where, params = _call_filter(call_ids, between)
        column = "tokens" if tokens else "NULL"
        return FetchedCalls(
            calls=self._rows(f"SELECT * FROM calls {where} ORDER BY call_id", params),
            turns=self.con.execute(f"SELECT call_id, speaker, role, start_s, end_s, text, words, {column} "
                                   f"FROM turns {where} ORDER BY call_id, turn_index", params).fetchall(),
            spans=self.con.execute(f"SELECT call_id, start_s, end_s, speaker FROM speaker_spans {where} "
                                   "ORDER BY call_id, start_s", params).fetchall(),
            sentences=self.con.execute(
                "SELECT call_id, model, turn_index, start_char, end_char, start_s, end_s, embedding "
                f"FROM sentences {where} ORDER BY call_id, sentence_index", params).fetchall() if sentences else [],
            tokens=tokens, lazy_words=lazy_words)

    def load_sentences(self, call_ids: list[str] | None = None, *,
                       between: tuple[str, str] | None = None) -> dict[str, StoredSentences]:
        """call_id -> its stored sentences, for all calls, those in `call_ids` or those with ids
        in the closed range `between` (only calls that have some), in one query fetched column by
        column: each call's vectors are one (n, dim) float16 array over its joined BLOBs."""
        import numpy as np

        where, params = _call_filter(call_ids, between)
        got = self.con.execute("SELECT call_id, model, turn_index, start_char, end_char, start_s, end_s, embedding "
                               f"FROM sentences {where} ORDER BY call_id, sentence_index", params).fetchnumpy()
        ids, models, blobs = got["call_id"], got["model"], got["embedding"]
        if not len(ids):
            return {}
        spans = list(zip(*(got[c].tolist() for c in ("turn_index", "start_char", "end_char", "start_s", "end_s"))))
        bounds = [0, *(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), len(ids)]
        return {ids[a]: StoredSentences(models[a], spans[a:b],
                                        np.frombuffer(b"".join(blobs[a:b]), dtype=np.float16).reshape(b - a, -1))
                for a, b in zip(bounds, bounds[1:])}

    def example_vectors(self, model: str, texts: list[str]) -> dict[str, np.ndarray]:
        """text -> stored float16 vector, of those `texts` that `model` embedded before."""
        import numpy as np

        rows = self.con.execute("SELECT text, embedding FROM example_embeddings WHERE model = ? AND "
                                "list_contains(?, text)", [model, list(texts)]).fetchall()
        return {text: np.frombuffer(blob, dtype=np.float16) for text, blob in rows}

    def failures(self) -> list[dict]:
        """Files that could not be processed, oldest first."""
        return self._rows("SELECT file, call_id, agent, reason, run_id, failed_at FROM failures ORDER BY failed_at")

    def unfinished_runs(self) -> list[dict]:
        """Runs that did not finish, oldest first, with their status: 'interrupted' or 'stopped'.
        Read-only, a run still marked 'running' is shown as interrupted: no process can be writing
        while this one holds the file open. A run that never finished counts the calls it stored."""
        rows = self._rows("""
            SELECT r.run_id, r.started_at, r.finished_at, r.status, r.files,
                   CASE WHEN r.finished_at IS NULL
                        THEN (SELECT count(*) FROM scorecards s WHERE s.run_id = r.run_id) ELSE r.scored END AS scored,
                   CASE WHEN r.finished_at IS NULL
                        THEN (SELECT count(*) FROM failures f WHERE f.run_id = r.run_id) ELSE r.failed END AS failed
            FROM runs r WHERE r.status IS DISTINCT FROM 'finished' ORDER BY r.started_at""")
        for row in rows:
            if row["status"] in (None, "running"):
                row["status"] = "interrupted"
        return rows

    def scored_calls(self, rubric_hash: str) -> set[str]:
        """Ids of calls that have a scorecard for this rubric version."""
        rows = self.con.execute("SELECT call_id FROM scorecards WHERE rubric_hash = ?", [rubric_hash]).fetchall()
        return {r[0] for r in rows}

    def scored_hash(self, call_id: str, rubric_hash: str, model: str) -> str | None:
        """Content hash of the audio a stored scorecard came from, if the call is scored with
        this rubric version from a transcript made by this model."""
        rows = self.con.execute(
            "SELECT c.content_hash FROM calls c JOIN scorecards s USING (call_id) "
            "WHERE c.call_id = ? AND s.rubric_hash = ? AND c.model = ?", [call_id, rubric_hash, model]
        ).fetchall()
        row = rows[0] if rows else None
        return row[0] if row else None


def _call_filter(call_ids: list[str] | None, between: tuple[str, str] | None) -> tuple[str, list]:
    """The WHERE clause (and its parameters) for all calls, those in `call_ids`, or those with ids
    in the closed range `between`."""
    if between is not None:
        return "WHERE call_id BETWEEN ? AND ?", list(between)
    if call_ids is not None:
        return "WHERE list_contains(?, call_id)", [call_ids]
    return "", []


def _words(text: str | None, speaker: str) -> list[Word]:
    """A turn's words from their stored JSON."""
    return [Word(w[0], w[1], w[2], w[3], speaker) for w in json.loads(text or "[]")]


class StoredWords(UserList):
    """A stored turn's words, decoded from their JSON on first use (a list in every other way)."""

    def __init__(self, text: str | None, speaker: str):  # noqa: super().__init__ would decode
        self._text, self._speaker, self._data = text, speaker, None

    @property
    def data(self) -> list[Word]:
        if self._data is None:
            self._data = _words(self._text, self._speaker)
        return self._data

    @data.setter
    def data(self, value: list[Word]) -> None:
        self._data = value


def _metrics_json(card: Scorecard) -> str | None:
    """The scorecard's call metrics for the JSON column (NULL when the scorer gave none)."""
    return None if card.metrics is None else json.dumps(card.metrics, default=_plain)


def _plain(value):
    """What json.dumps cannot encode itself in call metrics: dataclasses (a dict of their fields,
    as `to_plain` gives) and enums (their value)."""
    if isinstance(value, Enum):
        return value.value
    return {f.name: getattr(value, f.name) for f in fields(value)}


def _role_decision(call: dict) -> RoleDecision | None:
    if call.get("role_method") is None:
        return None
    return RoleDecision(call["agent_speaker"], call["role_method"], call["role_confidence"], call["role_detail"] or "")


def _os_reason(exc: BaseException) -> str:
    """The operating system's words in a DuckDB error about a file ("No space left on device"),
    else its first line."""
    found = re.search(r'Could not \w+ (?:to )?file "[^"]*": ([^"\n]+)', str(exc))
    return found.group(1).strip().rstrip(".") if found else _first_line(exc)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK on an exception. A fault of the file (disk full, I/O error),
    in a statement or at COMMIT, becomes one StoreError naming the file."""

    def __init__(self, store: Store):
        self.store = store
        self.con = store.con

    def __enter__(self):
        try:
            self.con.execute("BEGIN TRANSACTION")
            self.store._depth += 1
        except duckdb.Error as exc:
            if _is_fault(exc):
                raise self.store._write_error(exc) from None
            raise

    def __exit__(self, exc_type, exc, tb):
        self.store._depth -= 1
        try:
            if exc_type is None:
                try:
                    self.con.execute("COMMIT")
                except duckdb.Error as commit_error:
                    self._rollback()
                    raise self.store._write_error(commit_error) from None
                return False
            self._rollback()
            if isinstance(exc, duckdb.Error) and _is_fault(exc):
                raise self.store._write_error(exc) from None
            return False
        finally:
            if not self.store.hold:
                self.store.release()

    def _rollback(self) -> None:
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # no transaction left to roll back (a failed COMMIT ends it)
