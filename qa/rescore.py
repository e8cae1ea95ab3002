"""Score stored transcripts again with a (new version of a) rubric, without touching audio."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qa.store import Store
from scoring import Rubric, RubricScorer


@dataclass
class RescoreResult:
    scored: int
    skipped: int


def rescore(store: Store, rubric: Rubric, rubric_text: str, force: bool = False,
            on_progress: Callable[[int, int], None] | None = None, chunk: int = 100) -> RescoreResult:
    """Score every stored call with `rubric`; calls already scored with this version are skipped
    unless `force`. Scorecards are written in transactions of `chunk` calls."""
    store.save_rubric(rubric, rubric_text)
    done = set() if force else store.scored_calls(rubric.content_hash)
    todo = [(info, t) for info, t in store.load_transcripts() if info.call_id not in done]
    scorer = RubricScorer(rubric)
    for start in range(0, len(todo), chunk):
        batch = todo[start:start + chunk]
        store.save_scorecards([(info.call_id, scorer.score(t)) for info, t in batch], run_id="rescore")
        if on_progress:
            on_progress(min(start + chunk, len(todo)), len(todo))
    return RescoreResult(scored=len(todo), skipped=len(done))
