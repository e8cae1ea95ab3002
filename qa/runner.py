"""Batch runner: files -> transcripts -> scorecards -> store, one call at a time.

A file that cannot be processed is recorded as failed with its reason and the batch goes on.
A model that cannot be loaded stops the batch with one ModelError (calls already stored stay).
"""
from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from qa.inputs import PlannedCall, find_inputs, plan_calls
from qa.metadata import CallMetadata
from qa.store import CallInfo, Store, StoreError
from qa_types import Scorecard, Transcript
from scoring import Rubric, RubricScorer
from scoring.roles import decide_roles
from transcribe import AudioError, Transcriber, TranscriberOptions
from transcribe.errors import ModelError
from transcribe.model import resolve_model
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


@dataclass
class BatchResult:
    run_id: str
    outcomes: list[CallOutcome] = field(default_factory=list)

    def of(self, status: str) -> list[CallOutcome]:
        return [o for o in self.outcomes if o.status == status]


def find_audio(paths: Iterable[str | Path], warn: Callable[[str], None] | None = None) -> list[Path]:
    """Files named directly (whatever their type) plus audio files found under directories
    (symbolic links followed, each real folder and file once): `qa.inputs.find_inputs`, which
    also gives each file's name relative to its argument (what its default call id comes from)."""
    return [found.path for found in find_inputs(paths, warn)]


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes: a recording's identity."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
            self._transcriber = load_transcriber(self.settings.transcriber)
        return self._transcriber

    def run(self, files: list[Path], on_done: Callable[[CallOutcome], None] | None = None,
            workers: int = 1) -> BatchResult:
        """Score `files`; with workers > 1, transcription runs in that many processes (each loads
        the model once) while this process scores and writes every call (one writer)."""
        calls = plan_calls(files, self.metadata)  # InputError (two files, one call id) before anything is written
        result = BatchResult(run_id=uuid.uuid4().hex[:12])
        self.store.start_run(result.run_id, self.rubric.content_hash, self.model_name, len(calls))

        def done(outcome: CallOutcome) -> None:
            result.outcomes.append(outcome)
            if on_done:
                on_done(outcome)

        status = "finished"
        try:
            jobs = []
            for call in calls:
                job = self._prepare(call, result.run_id)
                if isinstance(job, CallOutcome):
                    done(job)
                else:
                    jobs.append(job)
            if jobs:
                self.check_model()
            if workers <= 1 or len(jobs) <= 1:
                for job in jobs:
                    done(self._finish(job, self._transcribe_here(job), result.run_id))
            else:
                self._run_parallel(jobs, workers, result.run_id, done)
        except BaseException as exc:  # Ctrl-C: the run is interrupted; a ModelError or StoreError stopped it
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped"
            raise
        finally:  # a batch stopped by a ModelError still records what it did
            self.store.finish_run(result.run_id, len(result.of("scored")), len(result.of("failed")), status)
        return result

    def check_model(self) -> str:
        """Find (and on a first run assemble) the Whisper model once, in this process, before any
        worker starts: the model argument faster-whisper will get, or a ModelError."""
        return resolve_model(self.settings.transcriber.model)

    @property
    def model_name(self) -> str:
        return self.settings.transcriber.model or "base"

    def _metadata_for(self, path: Path) -> CallMetadata:
        """The metadata of a file scored on its own (a batch matches all its files at once)."""
        return plan_calls([path], self.metadata)[0].meta

    def _prepare(self, call: "PlannedCall | Path", run_id: str) -> "Job | CallOutcome":
        """What to transcribe for a file, or its outcome when it is skipped or cannot be read."""
        if not isinstance(call, PlannedCall):
            call = plan_calls([call], self.metadata)[0]
        path, meta, call_id = call.path, call.meta, call.call_id
        try:
            if not path.is_file():
                raise AudioError(f"{path}: file not found")
            content_hash = file_hash(path)
        except (AudioError, OSError) as exc:
            reason = str(exc) if isinstance(exc, AudioError) else f"{path}: cannot read ({exc.strerror or exc})"
            self.store.record_failure(str(path), call_id, reason, run_id)
            return CallOutcome(file=str(path), call_id=call_id, status="failed", agent=meta.agent, reason=reason)
        if not self.settings.force and self.store.scored_hash(call_id, self.rubric.content_hash,
                                                              self.model_name) == content_hash:
            return CallOutcome(file=str(path), call_id=call_id, status="skipped", agent=meta.agent,
                               reason="already scored with this rubric and model")
        return Job(path=path, call_id=call_id, meta=meta, content_hash=content_hash,
                   language=meta.language or self.settings.language,
                   agent_channel=meta.agent_channel if meta.agent_channel is not None else self.settings.agent_channel,
                   voiceprint=self.store.voiceprint(meta.agent))

    def _transcribe_here(self, job: "Job") -> "Transcript | Exception":
        try:
            return _transcribe(self.transcriber, job)
        except ModelError:
            raise
        except Exception as exc:  # recorded as this file's failure by _finish
            return exc

    def _run_parallel(self, jobs: list["Job"], workers: int, run_id: str,
                      done: Callable[[CallOutcome], None]) -> None:
        options = replace(self.settings.transcriber,
                          cpu_threads=self.settings.transcriber.cpu_threads or max(1, (os.cpu_count() or 1) // workers))
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_load_worker_model, initargs=(options,))
        queue = iter(jobs)
        in_flight: dict = {}
        try:
            for job in itertools.islice(queue, 2 * workers):
                in_flight[pool.submit(_transcribe_in_worker, job)] = job
            while in_flight:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                model_error = None
                for future in finished:
                    transcribed = future.result()  # raises BrokenProcessPool when a worker died
                    job = in_flight.pop(future)
                    if isinstance(transcribed, ModelError):
                        model_error = model_error or transcribed
                        continue
                    done(self._finish(job, transcribed, run_id))
                    if model_error is None:
                        for nxt in itertools.islice(queue, 1):
                            in_flight[pool.submit(_transcribe_in_worker, nxt)] = nxt
                if model_error is not None:
                    raise model_error
        except BrokenProcessPool as exc:
            self._record_broken_pool(exc, in_flight, queue, run_id, done)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _record_broken_pool(self, exc: BrokenProcessPool, in_flight: dict, queue, run_id: str,
                            done: Callable[[CallOutcome], None]) -> None:
        """A worker process died (killed for memory, crashed in native code) and the pool cannot
        go on: transcripts already back are stored, every other file is recorded as failed
        (running the same command again retries exactly those)."""
        reason = ("not transcribed: a transcription worker process stopped unexpectedly "
                  f"({exc or 'no reason given'}); run the same command again to retry")
        for future, job in [*in_flight.items(), *((None, job) for job in queue)]:
            if future is not None and future.done() and not future.cancelled() and future.exception() is None:
                done(self._finish(job, future.result(), run_id))
                continue
            outcome = CallOutcome(file=str(job.path), call_id=job.call_id, status="failed",
                                  agent=job.meta.agent, reason=f"{job.path}: {reason}")
            self.store.record_failure(outcome.file, job.call_id, outcome.reason, run_id)
            done(outcome)

    def _finish(self, job: "Job", transcribed: "Transcript | Exception", run_id: str) -> CallOutcome:
        """Redact, score and store one transcript (one transaction); failures are recorded."""
        outcome = CallOutcome(file=str(job.path), call_id=job.call_id, status="failed", agent=job.meta.agent)
        try:
            if isinstance(transcribed, Exception):
                raise transcribed
            transcript, redactions = transcribed, None
            if self.settings.redact:
                transcript, redactions = redact(transcript)
            transcript = decide_roles(transcript, self.scorer)
            scorecard = self.scorer.score(transcript)
            info = CallInfo(call_id=job.call_id, file=str(job.path), content_hash=job.content_hash,
                            agent=job.meta.agent, team=job.meta.team, call_date=job.meta.call_date,
                            redactions=redactions)
            self.store.save_call(info, transcript, scorecard, run_id)
            outcome.status, outcome.scorecard = "scored", scorecard
            outcome.language, outcome.audio_s = transcript.language, transcript.duration
            outcome.reason = "; ".join(transcript.warnings)
        except StoreError:  # the database cannot be written (disk full): the batch stops with this line
            raise
        except AudioError as exc:
            outcome.reason = str(exc)
            self.store.record_failure(str(job.path), job.call_id, outcome.reason, run_id, agent=job.meta.agent)
        except Exception as exc:  # one bad file must not stop the batch
            outcome.reason = f"{job.path}: could not be processed ({type(exc).__name__}: {exc})"
            self.store.record_failure(str(job.path), job.call_id, outcome.reason, run_id, agent=job.meta.agent)
        return outcome

    def score_file(self, path: Path, run_id: str) -> CallOutcome:
        """Transcribe, score and store one file in this process; failures are recorded, not raised."""
        job = self._prepare(path, run_id)
        if isinstance(job, CallOutcome):
            return job
        return self._finish(job, self._transcribe_here(job), run_id)


@dataclass
class Job:
    """A file to transcribe, with what its metadata says."""

    path: Path
    call_id: str
    meta: CallMetadata
    content_hash: str
    language: str | None
    agent_channel: int
    voiceprint: list[float] | None = None


def load_transcriber(options: TranscriberOptions) -> Transcriber:
    """A Transcriber with its model loaded; any fault loading the model is one ModelError line
    naming the model."""
    try:
        return Transcriber(options)
    except ModelError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split()) or "no detail"
        raise ModelError(f"model {options.model or 'base'}: cannot be loaded "
                         f"({type(exc).__name__}: {detail})") from exc


_worker_transcriber: Transcriber | None = None
_worker_error: ModelError | None = None


def _load_worker_model(options: TranscriberOptions) -> None:
    """Pool initializer. A model that cannot be loaded must not break the pool (that would
    surface as a BrokenProcessPool traceback): the error is kept and given back as every task's
    result, and the main process stops the batch with it."""
    global _worker_transcriber, _worker_error
    try:
        _worker_transcriber = load_transcriber(options)
    except ModelError as exc:
        _worker_error = ModelError(str(exc))  # plain, so it pickles without its cause


def _transcribe(transcriber: Transcriber, job: Job) -> Transcript:
    voiceprint = np.asarray(job.voiceprint, dtype=np.float32) if job.voiceprint else None
    return transcriber.transcribe(job.path, language=job.language, agent_channel=job.agent_channel,
                                  voiceprint=voiceprint)


def _transcribe_in_worker(job: Job):
    """Runs in a worker process: the transcript, the exception to record for this file, or a
    ModelError that stops the batch (as it does when transcribing in the main process)."""
    if _worker_error is not None:
        return _worker_error
    try:
        return _transcribe(_worker_transcriber, job)
    except ModelError as exc:
        return ModelError(str(exc))
    except Exception as exc:
        return AudioError(str(exc)) if not isinstance(exc, AudioError) else exc


def default_workers() -> int:
    """Workers fitted to the machine: one per core (each with one CTranslate2 thread), at most 8
    (each worker holds its own model, ~0.7 GiB with the base model)."""
    return max(1, min(os.cpu_count() or 1, 8))
