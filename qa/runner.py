"""Batch runner: files -> transcripts -> scorecards -> store, one call at a time.

Transcription runs here or in a pool of worker processes; each transcript goes through the one
call-scoring path (`qa.scoring_service.CallScoring`: redact, decide roles, score, store in one
transaction). A file that cannot be processed is recorded as failed with its reason and the batch
goes on. A model that cannot be loaded stops the batch with one ModelError, a database that cannot
be written with one StoreError (calls already stored stay).
"""
from __future__ import annotations

import multiprocessing
import os
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from qa.executors import get_executor
from qa.inputs import PlannedCall, file_hash, find_inputs, plan_calls
from qa.scoring_service import CallOutcome, CallScoring
from qa.store import Store
from qa_types import CallRecord, Transcript
from scoring import Rubric
from transcribe import AudioError, Transcriber, TranscriberOptions
from transcribe.errors import ModelError
from transcribe.lifecycle import start_helper_process
from transcribe.model import resolve_model

__all__ = ["AUDIO_SUFFIXES", "BatchResult", "BatchRunner", "BatchSettings", "CallOutcome", "Job", "default_workers",
           "file_hash", "find_audio", "load_transcriber"]

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".webm"}


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
                 metadata: dict[str, CallRecord] | None = None):
        self.store = store
        self.rubric = rubric
        self.scoring = CallScoring(store, rubric, rubric_text)
        self.settings = settings
        self.metadata = metadata or {}
        self._transcriber: Transcriber | None = None

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = load_transcriber(self.settings.transcriber)
        return self._transcriber

    def run(self, files: list[Path], on_done: Callable[[CallOutcome], None] | None = None,
            workers: int | None = None, executor: str = "local",
            executor_options: dict | None = None) -> BatchResult:
        """Score `files`. Transcription runs where the executor named `executor` puts it
        (`qa.executors`: "local", here or with workers > 1 in that many processes; "ray", on
        `workers` Ray actors, None: as many as fit, `executor_options={"address": ...}` for a
        cluster); each loads the model once, while this process scores and writes every call
        (one writer)."""
        calls = plan_calls(files, self.metadata)  # InputError (two files, one call id) before anything is written
        runs = get_executor(executor)  # ExecutorError (unknown, not installed) before anything is written
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
            self.store.release()  # while calls are transcribed, other processes may use the file
            if jobs:
                self.check_model()
                runs.run(self, jobs, result.run_id, done, workers=workers, **(executor_options or {}))
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

    def _prepare(self, call: "PlannedCall | Path", run_id: str) -> "Job | CallOutcome":
        """What to transcribe for a file, or its outcome when it is skipped or cannot be read."""
        if not isinstance(call, PlannedCall):
            call = plan_calls([call], self.metadata)[0]
        path, meta, call_id = call.path, call.meta, call.call_id
        record = replace(meta, call_id=call_id, file=str(path), language=meta.language or self.settings.language,
                         agent_channel=meta.agent_channel if meta.agent_channel is not None
                         else self.settings.agent_channel)
        try:
            if not path.is_file():
                raise AudioError(f"{path}: file not found")
            record = replace(record, content_hash=file_hash(path))
        except (AudioError, OSError) as exc:
            reason = str(exc) if isinstance(exc, AudioError) else f"{path}: cannot read ({exc.strerror or exc})"
            return self.scoring.fail(record, reason, run_id=run_id)
        if not self.settings.force and self.store.scored_hash(call_id, self.rubric.content_hash,
                                                              self.model_name) == record.content_hash:
            return CallOutcome(file=str(path), call_id=call_id, status="skipped", agent=meta.agent,
                               reason="already scored with this rubric and model")
        return Job(path=path, record=record, voiceprint=self.store.voiceprint(meta.agent))

    def _transcribe_here(self, job: "Job") -> "Transcript | Exception":
        try:
            return _transcribe(self.transcriber, job)
        except ModelError:
            raise
        except Exception as exc:  # recorded as this file's failure by _finish
            return exc

    def _run_parallel(self, jobs: list["Job"], workers: int, run_id: str,
                      done: Callable[[CallOutcome], None]) -> None:
        """Transcribe `jobs` in a pool of `workers` processes while this process scores and
        stores each transcript as it comes back.

        A worker that dies (killed for memory or by hand, crashed in native code) breaks its
        pool: transcripts already back are stored, the pool is replaced and the batch goes on.
        Files the dead pool held but no worker had begun are simply handed to the new pool. A
        file a worker had begun is retried once, alone, so that if its worker dies again the
        fault is that file's: it is then recorded as failed with one line naming it. If pools
        keep dying before a worker begins any file, the remaining files are recorded as failed
        (running the same command again retries exactly those)."""
        options = replace(self.settings.transcriber,
                          cpu_threads=self.settings.transcriber.cpu_threads or max(1, (os.cpu_count() or 1) // workers))
        context = multiprocessing.get_context("spawn")
        started = context.RawArray("i", len(jobs))  # pid of the worker that began job i (0: none)
        waiting = deque(range(len(jobs)))  # indices into jobs, in batch order
        suspects: deque[int] = deque()  # begun by a worker of a pool that died: retried alone
        alone: int | None = None  # the suspect being retried
        in_flight: dict[Future, int] = {}
        pool: ProcessPoolExecutor | None = None
        idle_deaths = 0  # pools in a row that died before any worker began a file

        def submit(index: int) -> None:
            started[index] = 0
            try:
                future = pool.submit(_transcribe_in_worker, jobs[index], index)
            except BrokenProcessPool as exc:  # a worker died since the last look: handled as below
                future = Future()
                future.set_exception(exc)
            in_flight[future] = index

        try:
            while waiting or suspects or in_flight:
                if pool is None:
                    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_load_worker_model,
                                               initargs=(options, os.getpid(), started))
                if alone is None and suspects:  # nothing else is in flight once a pool has died
                    alone = suspects.popleft()
                    submit(alone)
                elif alone is None:
                    while waiting and len(in_flight) < 2 * workers:
                        submit(waiting.popleft())
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    finished, _ = wait(in_flight)  # a dead pool fails everything it held at once
                lost: list[int] = []
                model_error = None
                for future in [f for f in in_flight if f in finished]:  # in the order submitted
                    index = in_flight.pop(future)
                    fault = future.exception()
                    if isinstance(fault, BrokenProcessPool):
                        lost.append(index)
                        continue
                    if index == alone:
                        alone = None
                    transcribed = fault if fault is not None else future.result()
                    if isinstance(transcribed, ModelError):
                        model_error = model_error or transcribed
                        continue
                    done(self._finish(jobs[index], transcribed, run_id))
                if model_error is not None:
                    raise model_error
                if not lost:
                    continue
                broken = next(f.exception() for f in finished if isinstance(f.exception(), BrokenProcessPool))
                pool.shutdown(wait=True, cancel_futures=True)
                pool = None
                begun = [index for index in lost if started[index]]
                idle_deaths = 0 if begun else idle_deaths + 1
                for index in lost:
                    if index == alone and started[index]:
                        self._record_killer(jobs[index], run_id, done)
                    elif index == alone:  # its pool died before reaching it: not its fault
                        suspects.appendleft(index)
                    elif started[index]:
                        suspects.append(index)
                if alone in lost:
                    alone = None
                waiting.extendleft(reversed([index for index in lost if not started[index] and index not in suspects]))
                if idle_deaths >= 2:
                    self._record_broken_pool(broken, [jobs[i] for i in [*suspects, *waiting]], run_id, done)
                    suspects.clear()
                    waiting.clear()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _record_killer(self, job: "Job", run_id: str, done: Callable[[CallOutcome], None]) -> None:
        """A file whose worker died twice while transcribing it: recorded as failed."""
        reason = (f"{job.path}: not transcribed: the transcription worker process died twice while "
                  "transcribing this file (killed, for example for lack of memory, or crashed)")
        done(self.scoring.fail(job.record, reason, run_id=run_id))

    def _record_broken_pool(self, exc: BrokenProcessPool, jobs: list["Job"], run_id: str,
                            done: Callable[[CallOutcome], None]) -> None:
        """Worker processes keep dying before they begin any file (a model that crashes while
        loading, no memory for even one worker): every file not yet transcribed is recorded as
        failed (running the same command again retries exactly those)."""
        reason = ("not transcribed: transcription worker processes keep stopping unexpectedly "
                  f"({exc or 'no reason given'}); run the same command again to retry")
        for job in jobs:
            done(self.scoring.fail(job.record, f"{job.path}: {reason}", run_id=run_id))

    def _finish(self, job: "Job", transcribed: "Transcript | Exception", run_id: str) -> CallOutcome:
        """One transcript through `CallScoring.score` (redact, decide roles, score, store in one
        transaction), or the file's failure when it could not be transcribed."""
        if isinstance(transcribed, AudioError):
            return self.scoring.fail(job.record, str(transcribed), run_id=run_id)
        if isinstance(transcribed, Exception):
            return self.scoring.fail(job.record, f"{job.path}: could not be processed "
                                                 f"({type(transcribed).__name__}: {transcribed})", run_id=run_id)
        return self.scoring.score(job.record, transcribed, run_id=run_id, redact=self.settings.redact)

    def score_file(self, path: Path, run_id: str) -> CallOutcome:
        """Transcribe, score and store one file in this process; failures are recorded, not raised."""
        job = self._prepare(path, run_id)
        if isinstance(job, CallOutcome):
            return job
        return self._finish(job, self._transcribe_here(job), run_id)


@dataclass
class Job:
    """A file to transcribe: its path, its call record (call id, content hash, metadata, and the
    language and agent channel it is transcribed with) and its agent's enrolled voiceprint."""

    path: Path
    record: CallRecord
    voiceprint: list[float] | None = None

    @property
    def call_id(self) -> str:
        """The call id the file is stored under."""
        return self.record.call_id


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
_worker_started = None  # shared with the main process: pid of the worker that began job i, else 0


def _load_worker_model(options: TranscriberOptions, parent_pid: int | None = None, started=None) -> None:
    """Pool initializer. The worker exits when the main process dies (it would otherwise wait
    for work for ever) and releases its diarizer's process when it exits. A model that cannot be
    loaded must not break the pool (that would surface as a BrokenProcessPool traceback): the
    error is kept and given back as every task's result, and the main process stops the batch
    with it."""
    global _worker_transcriber, _worker_error, _worker_started
    if parent_pid is not None:
        start_helper_process(parent_pid)
    _worker_started = started
    # A worker ends through multiprocessing's exit, which skips atexit and joins the worker's own
    # children: the diarizer's process must be shut down before that join, or it waits for ever.
    from multiprocessing import util

    util.Finalize(None, _release_worker_model, exitpriority=20)
    try:
        _worker_transcriber = load_transcriber(options)
    except ModelError as exc:
        _worker_error = ModelError(str(exc))  # plain, so it pickles without its cause


def _release_worker_model() -> None:
    global _worker_transcriber
    if _worker_transcriber is not None:
        _worker_transcriber.close()
        _worker_transcriber = None


def _transcribe(transcriber: Transcriber, job: Job) -> Transcript:
    voiceprint = np.asarray(job.voiceprint, dtype=np.float32) if job.voiceprint else None
    return transcriber.transcribe(job.path, language=job.record.language, agent_channel=job.record.agent_channel,
                                  voiceprint=voiceprint)


def _transcribe_in_worker(job: Job, index: int | None = None):
    """Runs in a worker process: the transcript, the exception to record for this file, or a
    ModelError that stops the batch (as it does when transcribing in the main process).
    `index` is the job's place in the batch: the worker notes that it began it, so that if this
    process dies the main process knows which files were being transcribed."""
    if _worker_started is not None and index is not None:
        _worker_started[index] = os.getpid()
    if _worker_error is not None:
        return _worker_error
    return _transcribe_or_error(_worker_transcriber, job)


def _transcribe_or_error(transcriber: Transcriber, job: Job):
    """In a worker process or Ray actor: the transcript, the exception to record for this file,
    or a ModelError that stops the batch (each plain, so it pickles)."""
    try:
        return _transcribe(transcriber, job)
    except ModelError as exc:
        return ModelError(str(exc))
    except Exception as exc:
        return AudioError(str(exc)) if not isinstance(exc, AudioError) else exc


def default_workers() -> int:
    """Workers fitted to the machine: one per core (each with one CTranslate2 thread), at most 8
    (each worker holds its own model, ~0.7 GiB with the base model)."""
    return max(1, min(os.cpu_count() or 1, 8))
