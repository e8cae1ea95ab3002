"""Export scorecards and criterion results as CSV, Parquet or JSON for BI tools."""
from __future__ import annotations

from pathlib import Path

import duckdb

from qa.store import Store, StoreError

# A CSV cell a spreadsheet would run as a formula (=HYPERLINK(...), +SUM(...), @SUM(...), -..., or
# one after a tab or carriage return) is written with a leading single quote, as OWASP advises.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

FORMATS = {"csv": "(FORMAT csv, HEADER true)", "parquet": "(FORMAT parquet)", "json": "(FORMAT json, ARRAY true)"}

QUERIES = {
    "scorecards": """
        SELECT s.call_id, c.agent, c.team, c.call_date, c.language, c.duration_s, s.rubric_id, s.rubric_hash,
               s.score, s.passed, s.auto_failed, s.pass_mark, s.flags, s.scored_at
        FROM scorecards s JOIN calls c USING (call_id) ORDER BY s.call_id, s.scored_at""",
    "criterion_results": """
        SELECT r.call_id, c.agent, c.call_date, r.rubric_hash, r.section_id, r.criterion_id, r.name, r.outcome,
               r.points_awarded, r.points_possible, r.critical, r.note,
               e.quote AS first_evidence, e.start_s AS evidence_start_s, e.end_s AS evidence_end_s
        FROM criterion_results r JOIN calls c USING (call_id)
        LEFT JOIN evidence e ON e.call_id = r.call_id AND e.rubric_hash = r.rubric_hash
             AND e.criterion_id = r.criterion_id AND e.evidence_index = 0
        ORDER BY r.call_id, r.rubric_hash, r.criterion_id""",
}


class ExportError(Exception):
    """The export cannot be written; the message names the file and the fault."""


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"  # COPY takes no bound parameter for its target


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _without_formulas(con, query: str) -> str:
    """`query` with each text column guarded against formula injection; numbers, dates and
    booleans are untouched (a negative score stays a number)."""
    starts = ", ".join(_sql_text(c) for c in FORMULA_STARTS)
    columns = []
    for name, kind, *_ in con.execute(f"DESCRIBE ({query})").fetchall():
        col = '"' + name.replace('"', '""') + '"'
        columns.append(f"CASE WHEN left({col}, 1) IN ({starts}) THEN {_sql_text(chr(39))} || {col} "
                       f"ELSE {col} END AS {col}" if kind == "VARCHAR" else col)
    return f"SELECT {', '.join(columns)} FROM ({query})"


def export_tables(db: str | Path, out_dir: str | Path, fmt: str) -> list[Path]:
    """Write scorecards.<fmt> and criterion_results.<fmt> into `out_dir`. In CSV, which people
    open in spreadsheets, text that would start a formula gets a leading '; Parquet and JSON keep
    the exact values."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}' (csv, parquet, json)")
    db, out_dir = Path(db), Path(out_dir)
    if not db.is_file():
        raise ExportError(f"{db}: database not found")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder (choose another --out)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot create the folder ({exc.strerror or exc})") from None
    written = []
    try:  # through the store, which brings an older database up to the current schema first
        store = Store(db, read_only=True)
    except StoreError as exc:
        raise ExportError(str(exc)) from None
    con = store.con
    try:
        for name, query in QUERIES.items():
            target = out_dir / f"{name}.{fmt}"
            if fmt == "csv":
                query = _without_formulas(con, query)
            con.execute(f"COPY ({query}) TO {_literal(target)} {FORMATS[fmt]}")
            written.append(target)
    except duckdb.Error as exc:
        raise ExportError(f"{out_dir}: export failed ({str(exc).splitlines()[0]})") from None
    finally:
        store.close()
    return written
