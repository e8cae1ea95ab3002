"""Import transcripts that already exist (no audio), score them and store them like our own."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from qa.inputs import unique_ids
from qa.runner import CallOutcome, file_hash
from qa.store import CallInfo, Store
from scoring import Rubric, RubricScorer
from transcribe.errors import AudioError
from transcribe.importers import BadCall, ImportedCall, read_calls
from transcribe.redact import redact


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
    return (*Path(os.path.abspath(path)).parts[1:-1], call.call_id), 1


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
                fixed.append(call.call_id if call.id_given else None)
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
    """Read, check, score and store every call in `files`. A file or call that fails a check is
    recorded as failed with one line naming it and the fault, and the others go on. Every file
    is read and checked before anything is written: two calls with one call id are refused
    (ImportRefused) with nothing written."""
    files = list({os.path.realpath(p): Path(p) for p in files}.values())  # each file once
    reads = [_read(path, fmt, language, agent_names) for path in files]
    ids = plan_ids(files, reads)
    del reads  # read again one file at a time below: a large import is never all in memory
    store.save_rubric(rubric, rubric_text)
    scorer = RubricScorer(rubric)
    outcomes = []
    for path, call_ids in zip(files, ids):
        try:
            calls = read_calls(path, fmt, language, agent_names)
            digest = file_hash(path)
        except (AudioError, OSError) as exc:
            reason = str(exc) if isinstance(exc, AudioError) else f"{path}: cannot read ({exc.strerror or exc})"
            store.record_failure(str(path), None, reason, "import")
            outcomes.append(CallOutcome(file=str(path), call_id=Path(path).stem, status="failed", reason=reason))
            continue
        good = iter(call_ids)
        bad: list[BadCall] = []
        for n, call in enumerate(calls):
            if isinstance(call, BadCall):
                bad.append(call)
                outcomes.append(CallOutcome(file=str(path), call_id=call.call_id, status="failed", reason=call.reason))
                continue
            call_id = next(good, call.call_id)
            transcript, counts = redact(call.transcript) if redact_personal_data else (call.transcript, None)
            card = scorer.score(transcript)
            info = CallInfo(call_id=call_id, file=str(path), content_hash=f"{digest}:{n}",
                            agent=call.agent, team=call.team, call_date=call.call_date, redactions=counts)
            store.save_call(info, transcript, card, "import")
            outcomes.append(CallOutcome(file=str(path), call_id=call_id, status="scored", scorecard=card,
                                        agent=call.agent, language=call.transcript.language,
                                        audio_s=call.transcript.duration))
        if bad:  # after the file's good calls (storing a call clears its file's failure)
            more = f" (and {len(bad) - 1} more bad call(s) in this file)" if len(bad) > 1 else ""
            store.record_failure(str(path), bad[0].call_id, bad[0].reason + more, "import")
    return outcomes
