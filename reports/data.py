"""What the reports show, read from the DuckDB file through the store's read methods (read-only;
the queries are in qa/store_read.py)."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from qa.calibration import GATE_AC1, MIN_N
from qa.reviews import Calibration, Reviews
from qa.store import Store, StoreError
from qa.store_read import CriterionResultRow, CriterionRow, ReportCall, SectionScoreRow, TurnRow


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
    """Everything one report shows; the rows are the store's (qa/store_read.py types them)."""

    calls: list[ReportCall]                   # calls with their scorecard of this version
    results: dict[str, list[CriterionResultRow]]  # call_id -> criterion results (with evidence)
    turns: dict[str, list[TurnRow]]           # call_id -> turns
    criteria: dict[str, CriterionRow]         # criterion_id -> definition in this rubric version
    sections: dict[str, list[SectionScoreRow]] = field(default_factory=dict)  # call_id -> section scores
    rubric: dict = field(default_factory=dict)  # the version reported: rubric_hash, rubric_id, name
    other_versions: int = 0                   # calls scored only with other versions
    failures: list[dict] = field(default_factory=list)  # Store.failures(): file, reason, failed_at, ...
    calibration: Calibration | None = None    # reviews of this version, gate MIN_N / GATE_AC1 (None: no version)


def load(db: str | Path, filters: ReportFilters | None = None, missing_rubric_ok: bool = False) -> ReportData:
    """Scorecards of one rubric version (with filters), their final results (reviewers' answers
    in place of the machine's), evidence and turns, and the version's calibration (all its reviews,
    whatever the filters).

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
    try:
        rubric = store.rubric_version(filters.rubric)
        if rubric is None:
            if filters.rubric and not missing_rubric_ok:
                raise ReportError(f"{db}: no scorecards for rubric '{filters.rubric}'")
            rubric = {"rubric_hash": "", "rubric_id": filters.rubric or "", "name": ""}
        version = rubric["rubric_hash"]
        calls = store.report_calls(version, since=filters.since, until=filters.until,
                                   agents=filters.agents, teams=filters.teams)
        ids = [c["call_id"] for c in calls]
        results = store.criterion_results(version, ids)
        turns = store.turn_rows(ids)
        sections = store.section_scores(version, ids)
        criteria = store.criteria(version)
        other_versions = store.calls_scored_only_with_other_versions(version)
        failures = store.failures()
        calibration = Reviews(store).calibration(version, min_n=MIN_N, gate_ac1=GATE_AC1) if version else None
    except duckdb.Error as exc:
        raise ReportError(f"{db}: not a qa database ({str(exc).splitlines()[0]})") from None
    finally:
        store.close()
    return ReportData(calls=calls, results=results, turns=turns, criteria=criteria,
                      sections=sections, rubric=rubric, other_versions=other_versions, failures=failures,
                      calibration=calibration)
