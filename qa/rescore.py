"""Score stored transcripts again with a (new version of a) rubric, without touching audio.

Each call goes through the one path for stored calls (`qa.scoring_service.rescore_call`, then
`CallScoring.keep`) as stored: its text was redacted when it was stored (if redaction was on) and
its roles were decided then, so neither is done again. The roles are a fact about the call that
reviewers have seen, not something a new rubric version should change (the phrase-based decision
reads the rubric's agent phrases, so deciding again could move the agent to another speaker
between versions); re-import or re-score the audio to decide them anew. Only the scorecards are
written, in transactions of `chunk` calls.

What scoring needs from text is read as it was computed when the transcript was stored: each
turn's tokens, lemmas and norms (`scoring.text.TurnTokens`) and, when the rubric has meaning
checks, the call's sentences and embeddings, so no text is analysed or embedded again. A call
without them (stored before schema version 10 or 8, or by another analyser or embedder) is
analysed or embedded when needed, and what was made is stored with its scorecard, so the next
rescoring reads it.

Large rescorings use the machine's cores: this process reads the calls a page at a time and
writes every scorecard (the one database writer), while worker processes score them; the next
page is read while the workers score the last one.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from threadpoolctl import threadpool_limits

from qa.scoring_service import CallScoring, Rescored, rescore_call, scoring_fault
from qa.store import FetchedCalls, Store
from qa_types import CallRecord
from scoring import Rubric, RubricScorer, meaning

# A call's sentences are compared with every example in one small matrix product per call; BLAS
# would spread each over threads that spin while they wait, costing more CPU than the product.
# Rescoring runs one BLAS thread per process (and uses the cores through worker processes).

PARALLEL_FROM = 500
"""Calls to rescore from which worker processes are used (below it, starting them costs more
than they save)."""


@dataclass
class RescoreResult:
    """How many stored calls were scored, skipped (already scored with this rubric version) and
    failed (recorded in the store's failures)."""

    scored: int
    skipped: int
    failed: int = 0


def default_workers(calls: int) -> int:
    """Worker processes for rescoring `calls` calls: one per core (at most 8), none for few calls."""
    return 1 if calls < PARALLEL_FROM else max(1, min(os.cpu_count() or 1, 8))


def rescore(store: Store, rubric: Rubric, rubric_text: str, force: bool = False,
            on_progress: Callable[[int, int], None] | None = None, chunk: int = 1000,
            page: int = 500, workers: int | None = None) -> RescoreResult:
    """Score every stored call with `rubric`; calls already scored with this version are skipped
    unless `force`. Calls are read `page` at a time (with their stored text analysis and
    sentences) and scored in `workers` processes (None: `default_workers`; 1: in this process);
    scorecards are written in transactions of `chunk` calls; `on_progress(done, total)` follows
    each page. A call that cannot be scored is recorded as failed (one line naming its file,
    call and fault) and the others go on; a StoreError stops the rescoring."""
    with threadpool_limits(limits=1, user_api="blas"):  # one BLAS thread: see the note above PARALLEL_FROM
        return _rescore(store, rubric, rubric_text, force, on_progress, chunk, page, workers)


def _rescore(store: Store, rubric: Rubric, rubric_text: str, force: bool,
             on_progress: Callable[[int, int], None] | None, chunk: int, page: int,
             workers: int | None) -> RescoreResult:
    done = set() if force else store.scored_calls(rubric.content_hash)
    todo = [call_id for call_id in store.stored_call_ids() if call_id not in done]
    workers = default_workers(len(todo)) if workers is None else max(1, workers)
    failed = 0
    with CallScoring(store, rubric, rubric_text, chunk=chunk) as scoring:
        pages = [todo[i:i + page] for i in range(0, len(todo), page)]

        def load(ids: list[str]) -> FetchedCalls:
            fetched = store.fetch_calls(between=(ids[0], ids[-1]), tokens=True, sentences=scoring.uses_meaning,
                                        lazy_words=True)
            fetched.calls = [c for c in fetched.calls if c["call_id"] not in done]
            return fetched

        with _Scorers(scoring.scorer, workers) as scorers:
            pending = scorers.start(load(pages[0])) if pages else None
            for number in range(len(pages)):
                results = pending
                pending = scorers.start(load(pages[number + 1])) if number + 1 < len(pages) else None
                for record, result in results:
                    if isinstance(result, Rescored):
                        scoring.keep(record.call_id, result, "rescore")
                    else:
                        scoring.fail(record, result, run_id="rescore")
                        failed += 1
                scoring.flush()
                if on_progress:
                    on_progress(min((number + 1) * page, len(todo)), len(todo))
    return RescoreResult(scored=len(todo) - failed, skipped=len(done), failed=failed)


class _Scorers:
    """Scores pages of stored calls here (one worker) or in a pool of worker processes, started
    by fork where the platform has it (they inherit the scorer and the example vectors), else by
    spawn (they get them pickled). If a worker process dies (killed, out of memory), the calls it
    held and every later page are scored in this process instead."""

    def __init__(self, scorer: RubricScorer, workers: int):
        self.scorer, self.workers, self.pool = scorer, workers, None

    def __enter__(self) -> "_Scorers":
        if self.workers > 1:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            vectors = meaning.cached_texts(list(meaning._text_cache))
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method),
                                            initializer=_start_worker,
                                            initargs=(self.scorer, vectors, meaning.model_id()))
        return self

    def start(self, fetched: FetchedCalls) -> Iterator[tuple[CallRecord, Rescored | str]]:
        """Each call's record and result: a `Rescored` or the line to record for its failure, in
        call order; a pool works on them from now on, and they come as it gives them back."""
        if self.pool is None:
            return iter(_score_slice(fetched, self.scorer))
        parts = fetched.split(self.workers * 2)
        return self._gather(parts, [self.pool.submit(_score_slice, part) for part in parts])

    def _gather(self, parts: list[FetchedCalls], futures: list) -> Iterator[tuple[CallRecord, Rescored | str]]:
        for part, future in zip(parts, futures):
            try:
                found = future.result()
            except BrokenProcessPool:  # a worker died: no more pool; its calls are scored here
                self._close()
                found = _score_slice(part, self.scorer)
            yield from found

    def _close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            pool.shutdown(wait=True, cancel_futures=True)

    def __exit__(self, *exc) -> None:
        self._close()


_worker_scorer: RubricScorer | None = None


def _start_worker(scorer: RubricScorer, vectors: dict, model: str) -> None:
    global _worker_scorer
    threadpool_limits(limits=1, user_api="blas")
    _worker_scorer = scorer
    if meaning.model_id() == model:
        meaning.cache_texts(vectors)


def _score_slice(fetched: FetchedCalls, scorer: RubricScorer | None = None) -> list[tuple[CallRecord, Rescored | str]]:
    """Decode and score fetched calls: each call's record with its new scorecard, or with the one
    line recorded when it cannot be scored."""
    scorer = scorer or _worker_scorer
    out = []
    for call in fetched.decode():
        try:
            out.append((call.record, rescore_call(scorer, call.transcript, call.sentences, call.tokens)))
        except Exception as exc:  # one bad call must not stop the rescoring
            out.append((call.record, scoring_fault(call.record, exc)))
    return out
