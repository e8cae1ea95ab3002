"""What the reports show, read from the DuckDB file through the store's read methods (read-only;
the queries are in qa/store_read.py).

`open_report` is what `qa report` uses: figures over all covered calls are aggregated in DuckDB
(`ReportSource`), and calls, results, evidence and turns are read only for the calls that get a
page, a chunk at a time. `load` reads everything into Python at once (`ReportData`): small
databases, tests, and the plain computations the aggregates are checked against."""
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


def _open_store(db: Path) -> Store:
    if not db.is_file():
        raise ReportError(f"{db}: database not found (score some calls first with `qa score`)")
    try:  # through the store, which brings an older database up to the current schema first
        return Store(db, read_only=True)
    except StoreError as exc:
        raise ReportError(str(exc)) from None


def _version(store: Store, db: Path, filters: ReportFilters, missing_rubric_ok: bool) -> dict:
    rubric = store.rubric_version(filters.rubric)
    if rubric is None:
        if filters.rubric and not missing_rubric_ok:
            raise ReportError(f"{db}: no scorecards for rubric '{filters.rubric}'")
        rubric = {"rubric_hash": "", "rubric_id": filters.rubric or "", "name": ""}
    return rubric


def _not_a_database(db: Path, exc: duckdb.Error) -> ReportError:
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, duckdb.OutOfMemoryException):
        return ReportError(f"{db}: the report ran out of memory reading it ({line})")
    return ReportError(f"{db}: not a qa database ({line})")


UNKNOWN_AGENT = "(unknown)"  # the agent of calls stored without one
DUCKDB_MEMORY = "64MB"       # DuckDB's own memory while a report is written (its buffer pool included)


class ReportSource:
    """One report's reading of the database: the rubric version reported, its criteria,
    calibration and the figures of the covered calls, aggregated in DuckDB (qa/store_read.py);
    calls with their results, evidence, sections and turns read on demand for given ids.

    Holds a read-only store open until `close()` (use it as a context manager)."""

    def __init__(self, db: str | Path, filters: ReportFilters | None = None, missing_rubric_ok: bool = False):
        self.filters = filters or ReportFilters()
        self.db = Path(db)
        self.store = _open_store(self.db)
        try:
            self.rubric = _version(self.store, self.db, self.filters, missing_rubric_ok)
            self.version = self.rubric["rubric_hash"]
            f = self.filters
            self.total = self.store.open_report_scope(self.version, UNKNOWN_AGENT, since=f.since, until=f.until,
                                                      agents=f.agents, teams=f.teams, memory_limit=DUCKDB_MEMORY)
            self.criteria = self.store.criteria(self.version)
            self.other_versions = self.store.calls_scored_only_with_other_versions(self.version)
            self.failures = self.store.failures()
            self.calibration = (Reviews(self.store).calibration(self.version, min_n=MIN_N, gate_ac1=GATE_AC1)
                                if self.version else None)
        except duckdb.Error as exc:
            self.close()
            raise _not_a_database(self.db, exc) from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "ReportSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, method: str, *args, **kwargs):
        """`store.<method>(*args, **kwargs)`, a database fault as one ReportError line."""
        try:
            return getattr(self.store, method)(*args, **kwargs)
        except duckdb.Error as exc:
            raise _not_a_database(self.db, exc) from None

    def calls_with_details(self, call_ids: list[str]) -> ReportData:
        """The given calls (those covered) with their results, evidence, sections and turns."""
        f = self.filters
        calls = self.read("report_calls", self.version, since=f.since, until=f.until, agents=f.agents,
                          teams=f.teams, call_ids=call_ids)
        ids = [c["call_id"] for c in calls]
        return ReportData(calls=calls, results=self.read("criterion_results", self.version, ids),
                          turns=self.read("turn_rows", ids), criteria=self.criteria,
                          sections=self.read("section_scores", self.version, ids), rubric=self.rubric)


def open_report(db: str | Path, filters: ReportFilters | None = None, missing_rubric_ok: bool = False) -> ReportSource:
    """The report's source for `db` (see ReportSource); ReportError (one line) when it cannot be read."""
    return ReportSource(db, filters, missing_rubric_ok)


def load(db: str | Path, filters: ReportFilters | None = None, missing_rubric_ok: bool = False) -> ReportData:
    """Scorecards of one rubric version (with filters), their final results (reviewers' answers
    in place of the machine's), evidence and turns, and the version's calibration (all its reviews,
    whatever the filters).

    A rubric named in the filters that has no scorecards is a fault, unless `missing_rubric_ok`
    (re-rendering a report after its calls were forgotten): then the report is empty."""
    filters = filters or ReportFilters()
    db = Path(db)
    store = _open_store(db)
    try:
        rubric = _version(store, db, filters, missing_rubric_ok)
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
        raise _not_a_database(db, exc) from None
    finally:
        store.close()
    return ReportData(calls=calls, results=results, turns=turns, criteria=criteria,
                      sections=sections, rubric=rubric, other_versions=other_versions, failures=failures,
                      calibration=calibration)
