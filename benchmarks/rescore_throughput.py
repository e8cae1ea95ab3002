"""Re-scoring throughput: store N transcripts, re-score them all with `qa rescore`'s code path,
print calls per second; beside it, the seconds one example call takes to transcribe, measured
in the same run (the machine is shared and noisy: compare the two, not absolute times).

Transcripts are built from the shipped rubric test cases (six languages), each call made of
several cases laid end to end (about 40 turns, 4-5 minutes of conversation).

    .venv/bin/python -m benchmarks.rescore_throughput [--calls 1000] [--example examples/en_01_alice_good.wav]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from qa.rescore import rescore
from qa.store import CallInfo, Store, StoredSentences
from qa_types import Transcript, Turn
from rubrics import rubric_path
from scoring import load_rubric, meaning, parse_rubric
from scoring.calltext import CallText
from scoring.rubric_tests import case_transcript, load_cases, tests_path_for


def synthetic_calls(n: int, cases_per_call: int = 4, seed: int = 7) -> list[Transcript]:
    cases = load_cases(tests_path_for(rubric_path("inbound_support")))
    by_language: dict[str, list] = {}
    for case in cases:
        by_language.setdefault(case.language, []).append(case)
    rng = random.Random(seed)
    languages = sorted(by_language)
    calls = []
    for i in range(n):
        lang = languages[i % len(languages)]
        turns, offset = [], 0.0
        for case in rng.choices(by_language[lang], k=cases_per_call):
            part = case_transcript(case)
            turns += [Turn(t.speaker, t.role, t.start + offset, t.end + offset, t.text) for t in part.turns]
            offset += part.duration + 2.0
        calls.append(Transcript(turns=turns, language=lang, duration=offset, channels=2, model="synthetic"))
    return calls


def stored_sentences(transcript: Transcript) -> StoredSentences:
    """The call's sentences and vectors as `qa score` stores them with its transcript (each
    distinct sentence embedded once here: the synthetic calls repeat the cases' sentences)."""
    sentences = meaning.split_sentences(CallText(transcript))
    found = meaning.CallSentences(sentences, meaning.embed_texts([s.text for s in sentences]), meaning.model_id())
    return StoredSentences(found.model, found.spans(), found.vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--example", default="examples/en_01_alice_good.wav")
    args = parser.parse_args()

    rubric, text = load_rubric(rubric_path("inbound_support"))
    changed_text = text.replace("pass_mark: 80", "pass_mark: 85")  # a new rubric version
    changed = parse_rubric(changed_text, "changed")
    calls = synthetic_calls(args.calls)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        t0 = time.perf_counter()
        for i, t in enumerate(calls):
            store.save_call(CallInfo(call_id=f"call-{i:05d}", file=f"call-{i:05d}.wav", content_hash=str(i),
                                     agent=f"agent-{i % 20:02d}"), t, None, sentences=stored_sentences(t))
        stored_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = rescore(store, changed, changed_text)
        rescore_s = time.perf_counter() - t0
        assert result.scored == args.calls
    turns = sum(len(t.turns) for t in calls) / len(calls)
    print(f"stored {args.calls} transcripts ({turns:.0f} turns each) in {stored_s:.1f} s")
    print(f"rescore: {args.calls} calls in {rescore_s:.2f} s = {args.calls / rescore_s:.0f} calls/s")

    example = Path(args.example)
    if example.is_file():
        from transcribe import Transcriber

        transcriber = Transcriber()
        t0 = time.perf_counter()
        transcript = transcriber.transcribe(example, language="en")
        transcribe_s = time.perf_counter() - t0
        print(f"transcribing {example.name} ({transcript.duration:.1f} s of audio): {transcribe_s:.2f} s "
              f"= the time to rescore {transcribe_s * args.calls / rescore_s:.0f} calls")


if __name__ == "__main__":
    main()
