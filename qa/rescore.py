"""Score stored transcripts again with a (new version of a) rubric, without touching audio.

Each call goes through the one call-scoring path (`qa.scoring_service.CallScoring.score`) as
stored: its text was redacted when it was stored (if redaction was on) and its roles were decided
then, so neither is done again. The roles are a fact about the call that reviewers have seen, not
something a new rubric version should change (the phrase-based decision reads the rubric's agent
phrases, so deciding again could move the agent to another speaker between versions); re-import
or re-score the audio to decide them anew. Only the scorecards are written, in transactions of
`chunk` calls.

When the rubric has meaning checks, the calls' stored sentences and embeddings are read in one
query and handed in, so no call sentence is embedded again. A call without them (stored before
schema version 8, or by another embedder) is embedded when a meaning check needs it, and its
sentences are stored with its scorecard, so the next rescoring reads them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qa.scoring_service import CallScoring
from qa.store import Store
from scoring import Rubric


@dataclass
class RescoreResult:
    """How many stored calls were scored, skipped (already scored with this rubric version) and
    failed (recorded in the store's failures)."""

    scored: int
    skipped: int
    failed: int = 0


def rescore(store: Store, rubric: Rubric, rubric_text: str, force: bool = False,
            on_progress: Callable[[int, int], None] | None = None, chunk: int = 100) -> RescoreResult:
    """Score every stored call with `rubric`; calls already scored with this version are skipped
    unless `force`. Scorecards are written in transactions of `chunk` calls; `on_progress(done,
    total)` follows each. A call that cannot be scored is recorded as failed (one line naming
    its file, call and fault) and the others go on; a StoreError stops the rescoring."""
    done = set() if force else store.scored_calls(rubric.content_hash)
    todo = [(record, t) for record, t in store.load_transcripts() if record.call_id not in done]
    failed = 0
    with CallScoring(store, rubric, rubric_text, chunk=chunk) as scoring:
        sentences = (store.load_sentences([r.call_id for r, _ in todo] if done else None)
                     if scoring.uses_meaning and todo else {})
        for start in range(0, len(todo), chunk):
            for record, transcript in todo[start:start + chunk]:
                outcome = scoring.score(record, transcript, run_id="rescore", redact=False, decide_roles=False,
                                        save_transcript=False, sentences=sentences.get(record.call_id))
                failed += outcome.status == "failed"
            scoring.flush()
            if on_progress:
                on_progress(min(start + chunk, len(todo)), len(todo))
    return RescoreResult(scored=len(todo) - failed, skipped=len(done), failed=failed)
