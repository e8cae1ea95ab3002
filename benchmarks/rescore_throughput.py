"""Re-scoring throughput from stored analysis: store N calls the way `qa score` does (transcript,
each turn's tokens, sentences and their embeddings), rescore them all with a new version of the
shipped rubric through `qa rescore`'s code path, and print calls per second.

Beside it, measured in the same run (the machine is shared and noisy: compare, don't quote
absolute times):
- the same rescoring in one process (what the worker processes add);
- the baseline: the same rescoring of the first calls stored without their text analysis (as
  before schema version 10), so every turn is tokenised and lemmatised again; and whether both
  give identical scorecards;
- the seconds one example call takes to transcribe (skip with --example '').

Calls are built from the shipped rubric test cases (six languages) laid end to end and cut to
--turns turns, with word timings, so they have the shape of transcribed calls.

    .venv/bin/python -m benchmarks.rescore_throughput [--calls 1000] [--turns 25] [--baseline 300] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from qa.rescore import default_workers, rescore
from qa.scoring_service import CallScoring, _stored, _stored_tokens
from qa.store import CallInfo, Store, StoredCall
from qa_types import Transcript, Turn, Word
from rubrics import rubric_path
from scoring import load_rubric, meaning, parse_rubric
from scoring.calltext import CallText
from scoring.rubric_tests import case_transcript, load_cases, tests_path_for


def _with_words(turn: Turn, speaker: str, offset: float) -> Turn:
    """The turn moved by `offset` seconds, with one timed word per space-separated word."""
    parts = turn.text.split()
    step = (turn.end - turn.start) / max(1, len(parts))
    start = turn.start + offset
    words = [Word((" " if i else "") + w, round(start + i * step, 2), round(start + (i + 1) * step, 2), 0.9, speaker)
             for i, w in enumerate(parts)]
    return Turn(speaker, turn.role, start, turn.end + offset, turn.text, words)


def synthetic_calls(n: int, turns: int = 25, seed: int = 7) -> list[Transcript]:
    """N calls of `turns` turns each, made of the inbound rubric's test cases in one language per
    call, with word timings."""
    cases = load_cases(tests_path_for(rubric_path("inbound_support")))
    by_language: dict[str, list] = {}
    for case in cases:
        by_language.setdefault(case.language, []).append(case)
    rng = random.Random(seed)
    languages = sorted(by_language)
    calls = []
    for i in range(n):
        lang = languages[i % len(languages)]
        made, offset = [], 0.0
        while len(made) < turns:
            part = case_transcript(rng.choice(by_language[lang]))
            made += [_with_words(t, t.speaker, offset) for t in part.turns]
            offset += part.duration + 2.0
        made = made[:turns]
        calls.append(Transcript(turns=made, language=lang, duration=made[-1].end + 1.0, channels=2,
                                model="synthetic"))
    return calls


def store_calls(store: Store, calls: list[Transcript], analysed: bool = True, batch: int = 500) -> None:
    """Store the calls as `qa score` does: with each turn's tokens (unless not `analysed`) and the
    sentences with their embeddings (each distinct sentence embedded once: the calls repeat cases)."""
    items = []
    for i, t in enumerate(calls):
        call = CallText(t)
        found = meaning.split_sentences(call)
        call.sentences = meaning.CallSentences(found, meaning.embed_texts([s.text for s in found]), meaning.model_id())
        sentences, tokens = _stored(call), _stored_tokens(call)
        items.append(StoredCall(CallInfo(call_id=f"call-{i:06d}", file=f"call-{i:06d}.wav", content_hash=str(i),
                                         agent=f"agent-{i % 20:02d}"), t, None, sentences,
                                tokens=tokens if analysed else None))
        if len(items) >= batch:
            store.save_calls(items)
            items = []
    store.save_calls(items)


def scorecards(store: Store, rubric_hash: str, call_ids: list[str]) -> dict[str, list]:
    """call_id -> its stored criterion results with their evidence (all but the row ids)."""
    return {call_id: [{k: v for k, v in r.items() if k != "rubric_hash"} | {"evidence": [
        {k: v for k, v in e.items() if k != "rubric_hash"} for e in r["evidence"]]} for r in rows]
            for call_id, rows in store.criterion_results(rubric_hash, call_ids).items()}


def timed_rescore(db: Path, calls: list[Transcript], analysed: bool, workers: int | None) -> tuple[float, dict]:
    rubric, text = load_rubric(rubric_path("inbound_support"))
    changed_text = text.replace("pass_mark: 80", "pass_mark: 85")  # a new rubric version
    changed = parse_rubric(changed_text, "changed")
    with Store(db) as store:
        CallScoring(store, rubric, text)  # as `qa score` left it: the rubric's examples are embedded and stored
        store_calls(store, calls, analysed)
        t0 = time.perf_counter()
        result = rescore(store, changed, changed_text, workers=workers)
        elapsed = time.perf_counter() - t0
        assert result.scored == len(calls) and not result.failed, result
        return elapsed, scorecards(store, changed.content_hash, [f"call-{i:06d}" for i in range(len(calls))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=25)
    parser.add_argument("--baseline", type=int, default=300, help="calls rescored without stored analysis")
    parser.add_argument("--workers", type=int, default=None, help="scoring processes (default: qa rescore's)")
    parser.add_argument("--example", default="examples/en_01_alice_good.wav")
    args = parser.parse_args()

    calls = synthetic_calls(args.calls, args.turns)
    base_calls = calls[:args.baseline]
    with tempfile.TemporaryDirectory() as tmp:
        fast_s, fast = timed_rescore(Path(tmp) / "stored.duckdb", calls, True, args.workers)
        one_s, _ = timed_rescore(Path(tmp) / "one.duckdb", calls, True, 1)
        base_s, base = timed_rescore(Path(tmp) / "baseline.duckdb", base_calls, False, 1)
    same = sum(fast[c] == base[c] for c in base)
    fast_rate, one_rate, base_rate = args.calls / fast_s, args.calls / one_s, len(base_calls) / base_s
    workers = args.workers or default_workers(args.calls)
    print(f"{args.calls} calls of {args.turns} turns; shipped inbound rubric (new version), this machine: "
          f"{os.cpu_count()} cores")
    print(f"rescore from stored analysis, {workers} worker(s): {args.calls} calls in {fast_s:.2f} s "
          f"= {fast_rate:.0f} calls/s")
    print(f"rescore from stored analysis, 1 process:  {args.calls} calls in {one_s:.2f} s = {one_rate:.0f} calls/s")
    print(f"baseline, text analysed again, 1 process: {len(base_calls)} calls in {base_s:.2f} s "
          f"= {base_rate:.0f} calls/s")
    print(f"speed-up over the baseline: {fast_rate / base_rate:.1f}x ({one_rate / base_rate:.1f}x in one process); "
          f"identical scorecards and evidence: {same}/{len(base)} calls")

    example = Path(args.example) if args.example else None
    if example and example.is_file():
        from transcribe import Transcriber

        transcriber = Transcriber()
        t0 = time.perf_counter()
        transcript = transcriber.transcribe(example, language="en")
        transcribe_s = time.perf_counter() - t0
        print(f"transcribing {example.name} ({transcript.duration:.1f} s of audio): {transcribe_s:.2f} s "
              f"= the time to rescore {transcribe_s * fast_rate:.0f} calls")


if __name__ == "__main__":
    main()
