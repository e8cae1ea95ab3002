"""Call metadata from a CSV file (one row per recording)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

COLUMNS = ("file", "call_id", "agent", "team", "date", "language", "agent_channel")


class MetadataError(Exception):
    """The metadata file is unusable; the message names the file, row and fault."""


@dataclass
class CallMetadata:
    """One row of calls.csv; any field may be missing."""

    file: str
    call_id: str | None = None
    agent: str | None = None
    team: str | None = None
    call_date: date | None = None
    language: str | None = None
    agent_channel: int | None = None


def read_metadata(path: str | Path) -> dict[str, CallMetadata]:
    """Rows keyed by file name (and by path as written). Only `file` is a required column."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "file" not in reader.fieldnames:
                raise MetadataError(f"{path}: missing required column 'file' (columns: {', '.join(COLUMNS)})")
            rows = list(reader)
    except FileNotFoundError:
        raise MetadataError(f"{path}: metadata file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MetadataError(f"{path}: cannot read metadata ({exc})") from None
    table: dict[str, CallMetadata] = {}
    for line, row in enumerate(rows, start=2):
        table_row = _parse_row(path, line, row)
        table[table_row.file] = table_row
        table[Path(table_row.file).name] = table_row
    return table


def _parse_row(path: Path, line: int, row: dict) -> CallMetadata:
    def value(name: str) -> str | None:
        v = (row.get(name) or "").strip()
        return v or None

    if not value("file"):
        raise MetadataError(f"{path}:{line}: empty 'file'")
    try:
        call_date = date.fromisoformat(value("date")) if value("date") else None
    except ValueError:
        raise MetadataError(f"{path}:{line}: date '{value('date')}' is not YYYY-MM-DD") from None
    channel = value("agent_channel")
    if channel is not None and channel not in ("0", "1"):
        raise MetadataError(f"{path}:{line}: agent_channel must be 0 or 1, not '{channel}'")
    return CallMetadata(
        file=value("file"),
        call_id=value("call_id"),
        agent=value("agent"),
        team=value("team"),
        call_date=call_date,
        language=value("language"),
        agent_channel=int(channel) if channel is not None else None,
    )
