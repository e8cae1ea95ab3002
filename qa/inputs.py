"""Which recordings a batch holds, which metadata row describes each, and the call id each is
stored under.

- Folders are walked following symbolic links, each real folder once; a link loop or a broken
  link is reported as a warning and skipped.
- A file's name in the batch is its path relative to the argument it was found under
  (``day1/call.wav`` under a folder argument; a file named directly: its name).
- Its default call id is that name without the extension (a flat folder of unique names: the
  stem, as always). Where default ids collide, they take in parent folders until they differ
  (``qa score day1/call.wav day2/call.wav`` -> ``day1/call`` and ``day2/call``).
- A metadata row matches by path: relative to the csv's folder, then to the working folder,
  then to the argument; by bare file name only where that name is unique in the batch and in
  the metadata. A row that could be two files of the batch is refused.
- Two calls that would still be stored under one call id are refused, naming both files,
  before anything is written.
"""
from __future__ import annotations

import errno
import hashlib
import os
import posixpath
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from qa.metadata import MetadataTable, as_table, file_key
from qa_types import CallRecord

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".webm"}


class InputError(Exception):
    """The batch cannot be run as given; the message names the file(s) and the fault."""


@dataclass(frozen=True)
class AudioInput:
    """A recording of the batch: `path` to open it, `name` its path relative to the argument it
    was found under (posix; a file named directly: its file name)."""

    path: Path
    name: str


@dataclass(frozen=True)
class PlannedCall:
    """A recording with the metadata row describing it (None: no row) and its call id."""

    path: Path
    name: str
    call_id: str
    row: CallRecord | None

    @property
    def meta(self) -> CallRecord:
        """The metadata row, or an empty record naming the file when no row describes it."""
        return self.row or CallRecord(file=self.name)


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes: a recording's (or transcript file's) identity."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _real(path: str | Path) -> str:
    return os.path.realpath(path)


def find_inputs(paths: Iterable[str | Path], warn: Callable[[str], None] | None = None) -> list[AudioInput]:
    """Files named directly (whatever their type, found or not) plus audio files under folders,
    each real file once. Symbolic links to folders are followed, each real folder once; loops,
    broken links and unreadable folders are passed to `warn` as one line each and skipped."""
    warn = warn or (lambda message: None)
    found: list[AudioInput] = []
    seen_files: set[str] = set()
    seen_dirs: set[str] = set()

    def add(path: Path, name: str) -> None:
        key = _real(path)
        if key not in seen_files:
            seen_files.add(key)
            found.append(AudioInput(path=path, name=name))

    for arg in map(Path, paths):
        if arg.is_dir():
            for path, name in _walk(arg, seen_dirs, warn):
                add(path, name)
        else:
            add(arg, arg.name)
    return found


def _walk(root: Path, seen_dirs: set[str], warn: Callable[[str], None]) -> list[tuple[Path, str]]:
    """(path, name relative to root) of the audio files under root, sorted by name. Real
    sub-folders are walked first, then linked ones whose target was not walked yet."""
    files: list[tuple[Path, str]] = []
    linked: list[tuple[Path, PurePosixPath]] = []

    def visit(folder: Path, rel: PurePosixPath) -> None:
        real = _real(folder)
        if real in seen_dirs:
            return
        seen_dirs.add(real)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            warn(f"{folder}: cannot list this folder ({exc.strerror or exc}); skipped")
            return
        subfolders = []
        for entry in entries:
            path = folder / entry.name
            try:
                is_link = entry.is_symlink()
                if is_link:
                    try:
                        os.stat(path)
                    except OSError as exc:
                        if exc.errno == errno.ELOOP:
                            warn(f"{path}: symbolic link loop; skipped")
                        else:
                            warn(f"{path}: broken symbolic link (to {os.readlink(path)}); skipped")
                        continue
                if entry.is_dir():
                    if is_link:
                        target = _real(path)
                        if real == target or real.startswith(target.rstrip(os.sep) + os.sep):
                            warn(f"{path}: symbolic link loop (points to {target}, a folder it is in); skipped")
                            continue
                        linked.append((path, rel / entry.name))
                    else:
                        subfolders.append((path, rel / entry.name))
                elif entry.is_file() and Path(entry.name).suffix.lower() in AUDIO_SUFFIXES:
                    files.append((path, str(rel / entry.name)))
            except OSError as exc:
                warn(f"{path}: cannot read ({exc.strerror or exc}); skipped")
        for sub, sub_rel in subfolders:
            visit(sub, sub_rel)

    visit(root, PurePosixPath())
    while linked:  # folders reached only through a link, each real folder once
        path, rel = linked.pop(0)
        visit(path, rel)
    return sorted(files, key=lambda item: PurePosixPath(item[1]).parts)


def plan_calls(files: Iterable[Path | str | AudioInput | PlannedCall],
               metadata: Mapping | None = None) -> list[PlannedCall]:
    """Each file with its metadata row and call id; InputError (one line naming the files) when a
    row could describe two files, two rows describe one file, or two files get one call id."""
    files = list(files)
    if files and all(isinstance(f, PlannedCall) for f in files):
        _refuse_shared_ids(files)
        return files
    inputs = [f if isinstance(f, AudioInput) else
              AudioInput(f.path, f.name) if isinstance(f, PlannedCall) else
              AudioInput(Path(f), Path(f).name) for f in files]
    once: dict[str, AudioInput] = {}
    for item in inputs:  # each real file once, as first given
        once.setdefault(_real(item.path), item)
    inputs = list(once.values())
    table = as_table(metadata)
    rows = match_rows(inputs, table)
    ids = unique_ids([row.call_id if row and row.call_id else None for row in rows],
                     [_id_parts(i) for i in inputs])
    calls = [PlannedCall(path=i.path, name=i.name, call_id=call_id, row=row)
             for i, row, call_id in zip(inputs, rows, ids)]
    _refuse_shared_ids(calls)
    return calls


def _refuse_shared_ids(calls: list[PlannedCall]) -> None:
    first: dict[str, PlannedCall] = {}
    for call in calls:
        other = first.setdefault(call.call_id, call)
        if other is not call:
            how = [c for c in (other, call) if c.row is not None and c.row.call_id == call.call_id]
            hint = ("give them different call_id values in the metadata" if how else
                    "rename one, or give each a call_id in the metadata")
            raise InputError(f"{other.path} and {call.path} would both be stored as call '{call.call_id}' "
                             f"(one would replace the other); {hint}")


def _id_parts(item: AudioInput) -> tuple[tuple[str, ...], int]:
    """(the file's absolute path components without the extension, how many of them the default
    id takes: those of its name in the batch)."""
    name_parts = PurePosixPath(item.name).with_suffix("").parts if item.name else (item.path.stem,)
    above = Path(os.path.abspath(item.path)).parts[1:-len(name_parts) or None]
    return (*above, *name_parts), len(name_parts)


def unique_ids(fixed: list[str | None], parts: list[tuple[tuple[str, ...], int]]) -> list[str]:
    """Call ids: `fixed` where given, else the last k path components of `parts` (k starting at
    the given count); a default id shared with another id takes in one more parent folder at a
    time while that can tell them apart. Ids may still repeat; the caller refuses them."""
    depth = [k for _, k in parts]

    def ids() -> list[str]:
        return [f if f is not None else "/".join(p[-depth[n]:]) for n, (f, (p, _)) in enumerate(zip(fixed, parts))]

    current = ids()
    while True:
        groups: dict[str, list[int]] = {}
        for n, call_id in enumerate(current):
            groups.setdefault(call_id, []).append(n)
        grow = [n for group in groups.values() if len(group) > 1
                and len({parts[m][0] for m in group}) > 1  # parent folders can tell them apart
                for n in group if fixed[n] is None and depth[n] < len(parts[n][0])]
        if not grow:
            return current
        for n in grow:
            depth[n] += 1
        current = ids()


def match_rows(inputs: list[AudioInput], table: MetadataTable) -> list[CallRecord | None]:
    """The metadata row of each input, or None."""
    matched: list[CallRecord | None] = [None] * len(inputs)
    if not table.rows:
        return matched
    by_real: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    by_bare: dict[str, list[int]] = {}
    for n, item in enumerate(inputs):
        by_real.setdefault(_real(item.path), []).append(n)
        by_name.setdefault(file_key(item.name), []).append(n)
        by_bare.setdefault(item.path.name, []).append(n)
    row_bare = Counter(posixpath.basename(file_key(row.file)) for row in table.rows)
    csv = table.path or "metadata"

    def in_csv_folder(row: CallRecord) -> list[int]:
        return by_real.get(_real(table.folder / row.file), []) if table.folder is not None else []

    def in_working_folder(row: CallRecord) -> list[int]:
        return by_real.get(_real(row.file), [])

    def under_argument(row: CallRecord) -> list[int]:
        return by_name.get(file_key(row.file), [])

    def by_bare_name(row: CallRecord) -> list[int]:
        bare = posixpath.basename(file_key(row.file))
        hits = by_bare.get(bare, [])
        return hits if row_bare[bare] == 1 and len(hits) == 1 else []

    used: set[int] = set()
    for level in (in_csv_folder, in_working_folder, under_argument, by_bare_name):
        claimed: dict[int, CallRecord] = {}
        for row in table.rows:
            if id(row) in used:
                continue
            hits = [n for n in dict.fromkeys(level(row)) if matched[n] is None]
            if len(hits) > 1:
                raise InputError(f"{csv}:{row.line}: '{row.file}' could be {inputs[hits[0]].path} or "
                                 f"{inputs[hits[1]].path}; write its path relative to the csv's folder")
            if not hits:
                continue
            n = hits[0]
            if n in claimed:
                raise InputError(f"{inputs[n].path}: described by two rows of {csv} (lines {claimed[n].line} "
                                 f"and {row.line}); keep one")
            claimed[n] = row
        for n, row in claimed.items():
            matched[n] = row
            used.add(id(row))
    return matched
