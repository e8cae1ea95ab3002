"""The one path from a transcript to a stored call, used by `qa score` (the batch runner), `qa
import` and `qa rescore` alike::

    scoring = CallScoring(store, rubric, rubric_text)
    outcome = scoring.score(record, transcript, run_id=run_id)

`CallScoring.score` redacts personal data, decides who the agent is (`scoring.roles`), scores the
call with the rubric and stores its record, transcript and scorecard in one transaction. A call
that fails any of that is recorded in the store's failures with one line naming its file, its
call id and the fault, and its outcome is "failed": the batch goes on. A StoreError (the database
cannot be written: disk full, file size limit) is no call's fault: it propagates and stops the
batch, and the calls stored before it stay.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from qa.store import Store, StoreError
from qa_types import CallRecord, Scorecard, Transcript
from scoring import Rubric, RubricScorer, roles
from transcribe import redact as redaction


@dataclass
class CallOutcome:
    """What happened to one call: "scored", "skipped" or "failed" (with `reason`, one line).
    For a scored call `reason` holds the transcript's warnings, joined by "; "."""

    file: str
    call_id: str
    status: str
    scorecard: Scorecard | None = None
    agent: str | None = None
    language: str | None = None
    reason: str = ""
    audio_s: float = 0.0


class CallScoring:
    """Scores calls with one rubric into one store. Build it once per batch (the rubric's phrase
    matchers are compiled once), then call `score` for each call.

    store: where calls, scorecards and failures are written.
    rubric: the rubric every call is scored with.
    rubric_text: the rubric's YAML; when given, that rubric version is stored (once per content
        hash), as reports and rescoring need it.
    chunk: scorecards of calls whose transcript is already stored (``save_transcript=False``)
        are written this many calls to a transaction; `flush` (or leaving a ``with`` block)
        writes the rest.
    """

    def __init__(self, store: Store, rubric: Rubric, rubric_text: str | None = None, *, chunk: int = 100):
        self.store = store
        self.rubric = rubric
        self.scorer = RubricScorer(rubric)
        self.chunk = max(1, chunk)
        self._pending: list[tuple[str, Scorecard]] = []
        self._pending_run: str | None = None
        if rubric_text is not None:
            store.save_rubric(rubric, rubric_text)

    def score(
        self,
        record: CallRecord,
        transcript: Transcript,
        *,
        run_id: str | None = None,
        redact: bool = True,
        decide_roles: bool = True,
        save_transcript: bool = True,
    ) -> CallOutcome:
        """Score one call and store it; never raises for a fault of the call itself.

        record: the call's record; it must have its call id, file and content hash to be stored.
        transcript: the call's words with their speakers.
        run_id: the run the scorecard (and a failure) is recorded under ("import", "rescore" or a
            batch's id); None records none.
        redact: replace card numbers, phone numbers, e-mails and IBANs (`transcribe.redact`)
            before anything is scored or stored; the counts go into the stored record. False
            leaves the text, and the record's redactions, as given.
        decide_roles: decide who the agent is when the transcript has no role decision yet
            (`scoring.roles.decide_roles`: turns that carry roles keep them; speakers without
            roles are told apart by voiceprint, agent phrases or who speaks first).
        save_transcript: store the record and transcript with the scorecard, all in one
            transaction. False: the transcript is stored already (rescoring), only the
            scorecard is written, `chunk` calls to a transaction.

        Returns the outcome: "scored" with the scorecard, or "failed" with one line naming the
        file, the call and the fault (also recorded in the store's failures). A StoreError
        propagates.
        """
        try:
            if redact:
                transcript, counts = redaction.redact(transcript)
                record = replace(record, redactions=counts)
            if decide_roles:
                transcript = roles.decide_roles(transcript, self.scorer)
            scorecard = self.scorer.score(transcript)
            if save_transcript:
                self.store.save_call(record, transcript, scorecard, run_id)
            else:
                self._defer(record.call_id, scorecard, run_id)
        except StoreError:  # the database cannot be written: the batch stops with this line
            raise
        except Exception as exc:  # one bad call must not stop the batch
            detail = " ".join(str(exc).split()) or "no detail"
            return self.fail(record, f"{record.file}: call {record.call_id}: could not be scored "
                                     f"({type(exc).__name__}: {detail})", run_id=run_id)
        return CallOutcome(file=record.file, call_id=record.call_id, status="scored", scorecard=scorecard,
                           agent=record.agent, language=transcript.language, audio_s=transcript.duration,
                           reason="; ".join(transcript.warnings))

    def fail(self, record: CallRecord, reason: str, *, run_id: str | None = None) -> CallOutcome:
        """Record that a call (or a whole file) could not be scored, replacing the file's earlier
        failure, and give its "failed" outcome. `reason` is one line naming the file and the
        fault; a record without a call id is shown under its file's name."""
        self.store.record_failure(record.file, record.call_id, reason, run_id, agent=record.agent)
        return CallOutcome(file=record.file, call_id=record.call_id or Path(record.file).stem, status="failed",
                           agent=record.agent, reason=reason)

    def _defer(self, call_id: str | None, scorecard: Scorecard, run_id: str | None) -> None:
        if not call_id:
            raise ValueError("a stored call's scorecard needs the call id")
        if self._pending and run_id != self._pending_run:
            self.flush()
        self._pending.append((call_id, scorecard))
        self._pending_run = run_id
        if len(self._pending) >= self.chunk:
            self.flush()

    def flush(self) -> int:
        """Write the scorecards `score(..., save_transcript=False)` still holds, in one
        transaction; the number written."""
        pending, self._pending = self._pending, []
        if pending:
            self.store.save_scorecards(pending, run_id=self._pending_run)
        return len(pending)

    def __enter__(self) -> "CallScoring":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
