"""Import transcripts that already exist (no audio): read each file in its registered format
(`transcribe.importers`), then score and store every call through the same path as recorded
calls (`qa.scoring_service.CallScoring`: redact, decide roles, score, store)."""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from qa.inputs import file_hash, unique_ids
from qa.scoring_service import CallOutcome, CallScoring
from qa.store import Store
from qa_types import CallRecord
from scoring import Rubric
from transcribe.errors import AudioError
from transcribe.importers import BadCall, ImportedCall, read_calls


class ImportRefused(Exception):
    """The import cannot run as given (two calls would share one call id); nothing was written.
    The message is one line naming both sources."""


def _read(path: Path, fmt: str, language: str | None, agent_names: set[str]) -> list[ImportedCall | BadCall] | Exception:
    try:
        return read_calls(path, fmt, language, agent_names)
    except (AudioError, OSError) as exc:
        return exc


def _default_parts(path: Path, call: ImportedCall) -> tuple[tuple[str, ...], int]:
    """A default call id (from the file name) as path components, for telling apart files of
    the same name in different folders: .../day1/call -> call, or day1/call where needed."""
    return (*Path(os.path.abspath(path)).parts[1:-1], call.default_id), 1


def plan_ids(files: Iterable[Path], reads: list) -> list[list[str]]:
    """The call id of each read call (per file, in order): the id the file states, else one from
    the file name, taking in parent folders where two files' names would give one id.
    ImportRefused when two calls would still share an id."""
    where, fixed, parts = [], [], []
    for path, calls in zip(files, reads):
        if isinstance(calls, Exception):
            continue
        for call in calls:
            if isinstance(call, ImportedCall):
                where.append(call.where or str(path))
                fixed.append(call.record.call_id)
                parts.append(_default_parts(path, call))
    ids = unique_ids(fixed, parts)
    first: dict[str, int] = {}
    for n, call_id in enumerate(ids):
        other = first.setdefault(call_id, n)
        if other != n:
            raise ImportRefused(f"{where[other]} and {where[n]} both give call id '{call_id}' (one would replace "
                                "the other); give each call its own call_id. Nothing was imported")
    out, n = [], 0
    for calls in reads:
        count = 0 if isinstance(calls, Exception) else sum(isinstance(c, ImportedCall) for c in calls)
        out.append(ids[n:n + count])
        n += count
    return out


def import_transcripts(store: Store, rubric: Rubric, rubric_text: str, files: list[Path], fmt: str = "auto",
                       language: str | None = None, agent_names: set[str] = frozenset(),
                       redact_personal_data: bool = True) -> list[CallOutcome]:
    """Read, check, score and store every call in `files` (format `fmt`: a registered import
    format, or "auto" to detect each file's). Each call goes through `CallScoring.score` like a
    recorded call: personal data redacted (unless `redact_personal_data` is False), roles decided
    where its turns carry none (speakers "A" and "B": by the rubric's agent phrases, else the
    first speaker), scored and stored in one transaction.

    A file or call that fails a check or cannot be scored is recorded as failed with one line
    naming it and the fault, and the others go on; a file keeps one failure row, its first
    failed call's line (with how many more failed). Every file is read and checked before
    anything is written: two calls with one call id are refused (ImportRefused) with nothing
    written. A StoreError (the database cannot be written) stops the import."""
    files = list({os.path.realpath(p): Path(p) for p in files}.values())  # each file once
    reads = [_read(path, fmt, language, agent_names) for path in files]
    ids = plan_ids(files, reads)
    del reads  # read again one file at a time below: a large import is never all in memory
    scoring = CallScoring(store, rubric, rubric_text)
    outcomes = []
    for path, call_ids in zip(files, ids):
        try:
            calls = read_calls(path, fmt, language, agent_names)
            digest = file_hash(path)
        except (AudioError, OSError) as exc:
            reason = str(exc) if isinstance(exc, AudioError) else f"{path}: cannot read ({exc.strerror or exc})"
            outcomes.append(scoring.fail(CallRecord(file=str(path)), reason, run_id="import"))
            continue
        good = iter(call_ids)
        failed: list[CallOutcome] = []
        for n, call in enumerate(calls):
            if isinstance(call, BadCall):
                outcome = CallOutcome(file=str(path), call_id=call.call_id, status="failed", reason=call.reason)
            else:
                record = replace(call.record, call_id=next(good, call.default_id), file=str(path),
                                 content_hash=f"{digest}:{n}")
                outcome = scoring.score(record, call.transcript, run_id="import", redact=redact_personal_data)
            outcomes.append(outcome)
            if outcome.status == "failed":
                failed.append(outcome)
        if failed:  # after the file's good calls (storing a call clears its file's failure)
            more = f" (and {len(failed) - 1} more bad call(s) in this file)" if len(failed) > 1 else ""
            scoring.fail(CallRecord(call_id=failed[0].call_id, file=str(path), agent=failed[0].agent),
                         failed[0].reason + more, run_id="import")
    return outcomes
