"""Reading existing human evaluations from a CSV file.

One row per (call, criterion, evaluator). Required columns: call id,
criterion id, outcome, evaluator; optional: date, comment. Header names are
matched case-insensitively, with spaces, hyphens and underscores alike, and
these aliases:

=============  ===============================================
column         accepted header names
=============  ===============================================
call_id        call_id, call, callid
criterion_id   criterion_id, criterion, criterionid, question
outcome        outcome, answer, result
evaluator      evaluator, reviewer, rater
date           date, evaluated_at
comment        comment, notes
=============  ===============================================

Outcomes (case-insensitive): pass/yes/y/true/1/met -> pass;
fail/no/n/false/0/not met -> fail; na/n/a/not applicable/- -> na.
Dates are ISO 8601, a date or a date and time. The delimiter is the one of
``,`` ``;`` or tab found most often in the header line. Other columns are
ignored. Every fault is one :class:`HumanEvalError` naming file and line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

Outcome = Literal["pass", "fail", "na"]

REQUIRED = ("call_id", "criterion_id", "outcome", "evaluator")
OPTIONAL = ("date", "comment")
ALIASES: dict[str, str] = {
    alias: column
    for column, aliases in {
        "call_id": ("call_id", "call", "callid"),
        "criterion_id": ("criterion_id", "criterion", "criterionid", "question"),
        "outcome": ("outcome", "answer", "result"),
        "evaluator": ("evaluator", "reviewer", "rater"),
        "date": ("date", "evaluated_at"),
        "comment": ("comment", "notes"),
    }.items()
    for alias in aliases
}
OUTCOMES: dict[str, Outcome] = {
    **dict.fromkeys(("pass", "yes", "y", "true", "1", "met"), "pass"),
    **dict.fromkeys(("fail", "no", "n", "false", "0", "not met"), "fail"),
    **dict.fromkeys(("na", "n/a", "not applicable", "-"), "na"),
}
DELIMITERS = (",", ";", "\t")


class HumanEvalError(ValueError):
    """A fault in a human evaluations file; the message is one line: ``file:line: what``."""

    def __init__(self, source: str, line: int, message: str):
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line


@dataclass(frozen=True)
class HumanEval:
    """One evaluator's outcome for one criterion of one call; ``line`` is its line in the file."""

    call_id: str
    criterion_id: str
    outcome: Outcome
    evaluator: str
    date: date | datetime | None
    comment: str | None
    line: int


def read_human_evals(path: str | Path) -> list[HumanEval]:
    """Read and check a human evaluations CSV file (UTF-8, a BOM allowed)."""
    return parse_human_evals(Path(path).read_bytes(), source=str(path))


def parse_human_evals(data: str | bytes, source: str = "<input>") -> list[HumanEval]:
    """Parse human evaluations CSV text (bytes are decoded as UTF-8, a BOM allowed).

    ``source`` names the file in error messages.
    """
    text = _decode(data, source)
    header_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(header_line))
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise HumanEvalError(source, 1, "empty file: expected a header line")
    columns = _columns(header, source)
    records: list[HumanEval] = []
    first_line: dict[tuple[str, str, str], int] = {}
    line = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            record = _record(row, columns, len(header), source, line)
            key = (record.call_id, record.criterion_id, record.evaluator)
            if key in first_line:
                raise HumanEvalError(source, line, f"call {key[0]!r}, criterion {key[1]!r}, evaluator "
                                                   f"{key[2]!r} repeats line {first_line[key]}")
            first_line[key] = line
            records.append(record)
        line = reader.line_num + 1
    return records


def _decode(data: str | bytes, source: str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise HumanEvalError(source, line, "not UTF-8 text") from None


def _delimiter(header_line: str) -> str:
    """The delimiter found most often in the header line; a comma on a tie or none."""
    return max(DELIMITERS, key=lambda d: (header_line.count(d), d == ","))


def _normal_name(name: str) -> str:
    return re.sub(r"[\s_-]+", "_", name.strip().lower())


def _columns(header: list[str], source: str) -> dict[str, int]:
    """Column name -> index in the row, from the header's aliases."""
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        column = ALIASES.get(_normal_name(name))
        if column is None:
            continue
        if column in columns:
            raise HumanEvalError(source, 1, f"columns {header[columns[column]]!r} and {name!r} "
                                            f"both give the {column}")
        columns[column] = index
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise HumanEvalError(source, 1, f"missing required column {', '.join(missing)} "
                                        f"(header: {', '.join(header)})")
    return columns


def _record(row: list[str], columns: dict[str, int], width: int, source: str, line: int) -> HumanEval:
    if len(row) > width:
        raise HumanEvalError(source, line, f"{len(row)} fields, the header has {width}")

    def cell(column: str) -> str:
        index = columns.get(column)
        return row[index].strip() if index is not None and index < len(row) else ""

    for column in REQUIRED:
        if not cell(column):
            raise HumanEvalError(source, line, f"empty {column.replace('_', ' ')}")
    return HumanEval(call_id=cell("call_id"), criterion_id=cell("criterion_id"),
                     outcome=_outcome(cell("outcome"), source, line), evaluator=cell("evaluator"),
                     date=_date(cell("date"), source, line), comment=cell("comment") or None, line=line)


def _outcome(value: str, source: str, line: int) -> Outcome:
    outcome = OUTCOMES.get(" ".join(value.lower().split()))
    if outcome is None:
        raise HumanEvalError(source, line, f"unknown outcome {value!r} (expected pass, fail or na)")
    return outcome


def _date(value: str, source: str, line: int) -> date | datetime | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value) if len(value) <= 10 else datetime.fromisoformat(value)
    except ValueError:
        raise HumanEvalError(source, line, f"bad date {value!r} (expected ISO 8601, "
                                           f"e.g. 2026-11-28 or 2026-11-28T14:05:00)") from None
