"""Batch runner: files -> transcripts -> scorecards -> store, one call at a time.

A file that cannot be processed is recorded as failed with its reason and the batch goes on.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from qa.metadata import CallMetadata
from qa.store import CallInfo, Store
from qa_types import Scorecard
from scoring import Rubric, RubricScorer
from transcribe import AudioError, Transcriber, TranscriberOptions
from transcribe.errors import ModelError
from transcribe.redact import redact

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".webm"}


@dataclass
class CallOutcome:
    """What happened to one file in a batch."""

    file: str
    call_id: str
    status: str  # "scored", "skipped" or "failed"
    scorecard: Scorecard | None = None
    agent: str | None = None
    language: str | None = None
    reason: str = ""
    audio_s: float = 0.0
    transcribe_s: float = 0.0
    total_s: float = 0.0


@dataclass
class BatchResult:
    run_id: str
    outcomes: list[CallOutcome] = field(default_factory=list)

    def of(self, status: str) -> list[CallOutcome]:
        return [o for o in self.outcomes if o.status == status]


def find_audio(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly (whatever their type) plus audio files found under directories."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES))
        else:
            found.append(p)
    return list(dict.fromkeys(found))


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes: a recording's identity."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class BatchSettings:
    """How a batch is run."""

    transcriber: TranscriberOptions = field(default_factory=TranscriberOptions)
    agent_channel: int = 0
    language: str | None = None
    force: bool = False
    redact: bool = True


class BatchRunner:
    """Scores files into a store with one rubric; the Whisper model is loaded on first need."""

    def __init__(self, store: Store, rubric: Rubric, rubric_text: str, settings: BatchSettings,
                 metadata: dict[str, CallMetadata] | None = None):
        self.store = store
        self.rubric = rubric
        self.scorer = RubricScorer(rubric)
        self.settings = settings
        self.metadata = metadata or {}
        self._transcriber: Transcriber | None = None
        store.save_rubric(rubric, rubric_text)

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = Transcriber(self.settings.transcriber)
        return self._transcriber

    def run(self, files: list[Path], on_done: Callable[[CallOutcome], None] | None = None) -> BatchResult:
        result = BatchResult(run_id=uuid.uuid4().hex[:12])
        self.store.start_run(result.run_id, self.rubric.content_hash,
                             self.settings.transcriber.model or "base", len(files))
        for path in files:
            outcome = self.score_file(path, result.run_id)
            result.outcomes.append(outcome)
            if on_done:
                on_done(outcome)
        self.store.finish_run(result.run_id, len(result.of("scored")), len(result.of("failed")))
        return result

    def _metadata_for(self, path: Path) -> CallMetadata:
        return self.metadata.get(str(path)) or self.metadata.get(path.name) or CallMetadata(file=path.name)

    def score_file(self, path: Path, run_id: str) -> CallOutcome:
        """Transcribe, score and store one file; failures are recorded, not raised."""
        started = time.perf_counter()
        meta = self._metadata_for(path)
        call_id = meta.call_id or path.stem
        outcome = CallOutcome(file=str(path), call_id=call_id, status="failed", agent=meta.agent)
        try:
            if not path.is_file():
                raise AudioError(f"{path}: file not found")
            content_hash = file_hash(path)
            if not self.settings.force and self.store.scored_hash(call_id, self.rubric.content_hash) == content_hash:
                outcome.status, outcome.reason = "skipped", "already scored with this rubric"
                return outcome
            language = meta.language or self.settings.language
            agent_channel = meta.agent_channel if meta.agent_channel is not None else self.settings.agent_channel
            t0 = time.perf_counter()
            transcript = self.transcriber.transcribe(path, language=language, agent_channel=agent_channel)
            outcome.transcribe_s = time.perf_counter() - t0
            redactions = None
            if self.settings.redact:
                transcript, redactions = redact(transcript)
            scorecard = self.scorer.score(transcript)
            info = CallInfo(call_id=call_id, file=str(path), content_hash=content_hash,
                            agent=meta.agent, team=meta.team, call_date=meta.call_date, redactions=redactions)
            self.store.save_call(info, transcript, scorecard, run_id)
            outcome.status, outcome.scorecard = "scored", scorecard
            outcome.language, outcome.audio_s = transcript.language, transcript.duration
            if transcript.warnings:
                outcome.reason = "; ".join(transcript.warnings)
        except (AudioError, OSError) as exc:
            outcome.reason = str(exc)
            self.store.record_failure(str(path), call_id, outcome.reason, run_id)
        except ModelError:
            raise
        except Exception as exc:  # one bad file must not stop the batch
            outcome.reason = f"{path}: could not be processed ({type(exc).__name__}: {exc})"
            self.store.record_failure(str(path), call_id, outcome.reason, run_id)
        finally:
            outcome.total_s = time.perf_counter() - started
        return outcome
