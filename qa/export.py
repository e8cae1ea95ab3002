"""Export scorecards and criterion results as tables for BI tools (CSV, Parquet, JSON, ...).

The queries and the COPY are the store's (`Store.export_tables`, qa/store_read.py); this module
holds the table formats and checks the output folder. Each format is one `TableFormat` in the
`table_formats` registry: `register_table_format(TableFormat(...))` here, or, from another
package, an entry point in the group `callqa_table_formats` naming a TableFormat.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import catalogue

from qa.store import Store, StoreError

table_formats = catalogue.create("callqa", "table_formats", entry_points=True)


@dataclass(frozen=True)
class TableFormat:
    """A table format DuckDB's COPY writes."""

    name: str                     # `qa export --format <name>`, and the extension: scorecards.<name>
    copy_options: str             # the options of COPY ... TO (...), e.g. "FORMAT parquet"
    quote_formulas: bool = False  # text that would start a spreadsheet formula gets a leading '


def register_table_format(fmt: TableFormat) -> TableFormat:
    table_formats.register(fmt.name, func=fmt)
    return fmt


# CSV is opened in spreadsheets: cells that would run as formulas are neutralised (OWASP).
register_table_format(TableFormat("csv", "FORMAT csv, HEADER true", quote_formulas=True))
# Parquet and JSON keep the exact values.
register_table_format(TableFormat("parquet", "FORMAT parquet"))
register_table_format(TableFormat("json", "FORMAT json, ARRAY true"))


class ExportError(Exception):
    """The export cannot be written; the message names the file and the fault."""


def table_format_names() -> list[str]:
    """The registered table formats, in registration order (entry points first)."""
    return list(table_formats.get_all())


def export_tables(db: str | Path, out_dir: str | Path, fmt: str) -> list[Path]:
    """Write scorecards.<fmt> and criterion_results.<fmt> into `out_dir` (made if missing) in a
    registered table format; the scorecards table has a metric_<name> column per registered call
    metric. In CSV, which people open in spreadsheets, text that would start a formula gets a
    leading '; Parquet and JSON keep the exact values. A fault is one ExportError line."""
    formats = table_formats.get_all()
    if fmt not in formats:
        raise ExportError(f"unknown format '{fmt}' ({', '.join(formats)})")
    db, out_dir = Path(db), Path(out_dir)
    if not db.is_file():
        raise ExportError(f"{db}: database not found")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder (choose another --out)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot create the folder ({exc.strerror or exc})") from None
    try:  # through the store, which brings an older database up to the current schema first
        with Store(db, read_only=True) as store:
            return store.export_tables(out_dir, formats[fmt])
    except StoreError as exc:
        raise ExportError(str(exc)) from None
