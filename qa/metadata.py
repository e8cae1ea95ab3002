"""Call metadata from a CSV file (one row per recording), each row a `qa_types.CallRecord`.

The header is read forgivingly: spaces around names are stripped, case is ignored and common
names for a column are accepted where they are unambiguous (``agent_id`` or ``agent_name`` for
``agent``, ``team_name`` for ``team``, ``call_date`` for ``date``, ``lang`` for ``language``, ...).
A column that is not used is named in a warning. What would silently give a call the wrong
metadata is refused with one line naming the file and the fault: two rows for the same file,
two rows with the same call_id, two columns that could both be the same field.
"""
from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from qa_types import CallRecord

COLUMNS = ("file", "call_id", "agent", "team", "date", "language", "agent_channel")

# Other names a column goes by in call-centre exports (compared after lower-casing and turning
# spaces and hyphens into underscores).
ALIASES: dict[str, tuple[str, ...]] = {
    "file": ("filename", "file_name", "filepath", "file_path", "path", "audio", "audio_file", "recording",
             "recording_file"),
    "call_id": ("callid", "id", "call", "call_uuid", "recording_id", "conversation_id", "interaction_id"),
    "agent": ("agent_id", "agentid", "agent_name", "agentname"),
    "team": ("team_name", "teamname", "team_id", "teamid"),
    "date": ("call_date", "calldate", "date_of_call"),
    "language": ("lang", "language_code", "lang_code"),
    "agent_channel": ("agentchannel", "agent_chan", "agent_ch"),
}
_CANONICAL = {alias: name for name, aliases in ALIASES.items() for alias in aliases} | {c: c for c in COLUMNS}


class MetadataError(Exception):
    """The metadata file is unusable; the message names the file, row and fault."""


def file_key(value: str) -> str:
    """A `file` value normalised for comparison: forward slashes, no `./` or `a/../`."""
    return posixpath.normpath(value.strip().replace("\\", "/"))


@dataclass
class MetadataTable(Mapping):
    """The rows of one calls.csv, in file order, with the warnings reading it gave.

    As a mapping it is keyed by `file` as written (normalised) and by bare file name where only
    one row has that name; batch matching (relative paths first) is `qa.inputs.plan_calls`."""

    path: Path | None
    rows: list[CallRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path | None:
        """The folder `file` values are relative to."""
        return self.path.parent if self.path is not None else None

    def _index(self) -> dict[str, CallRecord]:
        index = {file_key(row.file): row for row in self.rows}
        names: dict[str, list[CallRecord]] = {}
        for row in self.rows:
            names.setdefault(posixpath.basename(file_key(row.file)), []).append(row)
        for name, rows in names.items():
            if len(rows) == 1:
                index.setdefault(name, rows[0])
        return index

    def __getitem__(self, key: str) -> CallRecord:
        return self._index()[file_key(str(key))]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def __bool__(self) -> bool:
        return bool(self.rows)


def as_table(metadata: Mapping | None) -> MetadataTable:
    """A MetadataTable from what a caller gives: a table, a plain {file: CallRecord} dict, or None."""
    if metadata is None:
        return MetadataTable(path=None)
    if isinstance(metadata, MetadataTable):
        return metadata
    rows = list({id(row): row for row in metadata.values()}.values())
    return MetadataTable(path=None, rows=rows)


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _columns(path: Path, header: list[str]) -> tuple[dict[int, str], list[str]]:
    """{column position: field} for the columns used, and one warning per column not used."""
    warnings = []
    claims: dict[str, list[tuple[int, str]]] = {}
    for pos, raw in enumerate(header):
        name = raw.strip()
        if not name:
            continue
        canonical = _CANONICAL.get(_header_key(name))
        if canonical is None:
            warnings.append(f"{path}: column '{name}' is not used (known columns: {', '.join(COLUMNS)})")
            continue
        claims.setdefault(canonical, []).append((pos, name))
    used: dict[int, str] = {}
    for canonical, found in claims.items():
        exact = [(pos, name) for pos, name in found if _header_key(name) == canonical]
        if len(exact) > 1 or (not exact and len(found) > 1):
            both = found if not exact else exact
            raise MetadataError(f"{path}: columns '{both[0][1]}' and '{both[1][1]}' could both be the "
                                f"'{canonical}' column; keep one, or rename the one to use to '{canonical}'")
        pos, name = exact[0] if exact else found[0]
        used[pos] = canonical
        for other_pos, other in found:
            if other_pos != pos:
                warnings.append(f"{path}: column '{other}' is not used ('{name}' gives the {canonical})")
    return used, warnings


def read_metadata(path: str | Path) -> MetadataTable:
    """The rows of a calls.csv. Only a `file` column is required."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise MetadataError(f"{path}: empty file (a header with at least a 'file' column is needed)")
            columns, warnings = _columns(path, header)
            if "file" not in columns.values():
                raise MetadataError(f"{path}: missing required column 'file' (columns: {', '.join(COLUMNS)})")
            raw_rows = []
            for values in reader:
                if any(v.strip() for v in values):
                    raw_rows.append((reader.line_num, values))
    except FileNotFoundError:
        raise MetadataError(f"{path}: metadata file not found") from None
    except IsADirectoryError:
        raise MetadataError(f"{path}: is a folder, not a metadata file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MetadataError(f"{path}: cannot read metadata ({exc})") from None
    table = MetadataTable(path=path, warnings=warnings)
    by_file: dict[str, CallRecord] = {}
    by_id: dict[str, CallRecord] = {}
    for line, values in raw_rows:
        extra = [v for v in values[len(header):] if v.strip()]
        if extra:
            raise MetadataError(f"{path}:{line}: {len(values)} values but the header has {len(header)} columns")
        row = _parse_row(path, line, {name: values[pos] for pos, name in columns.items() if pos < len(values)})
        key = file_key(row.file)
        if key in by_file:
            raise MetadataError(f"{path}: file '{row.file}' is on lines {by_file[key].line} and {line}; "
                                "keep one row per recording")
        by_file[key] = row
        if row.call_id is not None:
            if row.call_id in by_id:
                first = by_id[row.call_id]
                raise MetadataError(f"{path}: call_id '{row.call_id}' is on lines {first.line} ({first.file}) and "
                                    f"{line} ({row.file}); each recording needs its own call_id")
            by_id[row.call_id] = row
        table.rows.append(row)
    return table


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text).date()  # a timestamp: its day


def _parse_row(path: Path, line: int, row: dict[str, str]) -> CallRecord:
    def value(name: str) -> str | None:
        v = (row.get(name) or "").strip()
        return v or None

    if not value("file"):
        raise MetadataError(f"{path}:{line}: empty 'file'")
    try:
        call_date = _date(value("date")) if value("date") else None
    except ValueError:
        raise MetadataError(f"{path}:{line}: date '{value('date')}' is not YYYY-MM-DD") from None
    channel = value("agent_channel")
    if channel is not None and channel not in ("0", "1"):
        raise MetadataError(f"{path}:{line}: agent_channel must be 0 or 1, not '{channel}'")
    return CallRecord(
        file=value("file"),
        call_id=value("call_id"),
        agent=value("agent"),
        team=value("team"),
        call_date=call_date,
        language=value("language"),
        agent_channel=int(channel) if channel is not None else None,
        line=line,
    )
