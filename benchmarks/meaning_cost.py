"""What meaning checks add to scoring a call, beside the time the call takes to transcribe, in one run.

For each example call: (a) transcribe it (model loaded once, before timing); (b) score the
transcript with the shipped rubric, from raw text, so the call's sentences are split and
embedded as a new call's would be; (c) score it with the same rubric with its meaning checks
taken out (each `any: [phrases, meaning]` left with its phrases). (b) and (c) alternate,
`--rounds` times each, and the fastest of each is kept. Prints per call and in total the
seconds meaning checks add ((b) - (c)) as a share of the transcription time (a).

    .venv/bin/python -m benchmarks.meaning_cost [examples/] [--metadata examples/calls.csv] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qa.metadata import read_metadata
from qa.runner import find_audio
from rubrics import rubric_path
from scoring import RubricScorer, load_rubric, parse_rubric
from scoring.rubric_loader import _plain, read_yaml


def without_meaning(node):
    """The rubric tree with meaning checks removed (an `any`/`all` left with one check becomes it)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("any", "all") and isinstance(value, list):
                kept = [without_meaning(v) for v in value if not (isinstance(v, dict) and "meaning" in v)]
                if len(kept) == 1 and len(node) == 1:
                    return kept[0]
                out[key] = kept
            else:
                out[key] = without_meaning(value)
        return out
    if isinstance(node, list):
        return [without_meaning(v) for v in node]
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["examples"])
    parser.add_argument("--metadata", default="examples/calls.csv")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from scoring import meaning
    from transcribe import Transcriber

    rubric, text = load_rubric(rubric_path("inbound_support"))
    plain = parse_rubric(json.dumps(without_meaning(_plain(read_yaml(text, "rubric", ValueError))),
                                    ensure_ascii=False), "without meaning")
    with_scorer, plain_scorer = RubricScorer(rubric), RubricScorer(plain)
    metadata = read_metadata(args.metadata) if Path(args.metadata).is_file() else {}
    files = find_audio(args.paths)
    transcriber = Transcriber()
    meaning.embed(["warm up"])  # load the embedding model before timing, as a batch worker has it
    totals = [0.0, 0.0, 0.0, 0.0]  # transcribe, with meaning, without, sentences
    print(f"{'call':30} {'audio s':>7} {'transcribe s':>12} {'meaning s':>9} {'share':>6} {'sentences':>9}")
    for path in files:
        meta = metadata.get(path.name)
        t0 = time.perf_counter()
        transcript = transcriber.transcribe(
            path, language=meta.language if meta else None,
            agent_channel=meta.agent_channel if meta and meta.agent_channel is not None else 0)
        transcribe_s = time.perf_counter() - t0
        best = {"with": float("inf"), "without": float("inf")}
        for _ in range(args.rounds):
            for name, scorer in (("with", with_scorer), ("without", plain_scorer)):
                t0 = time.perf_counter()
                scorer.score(transcript)  # a new CallText: sentences split and embedded again
                best[name] = min(best[name], time.perf_counter() - t0)
        from scoring.calltext import CallText
        sentences = len(meaning.split_sentences(CallText(transcript)))
        added = max(0.0, best["with"] - best["without"])
        for i, value in enumerate((transcribe_s, best["with"], best["without"], sentences)):
            totals[i] += value
        print(f"{path.name:30} {transcript.duration:7.1f} {transcribe_s:12.2f} {added:9.3f} "
              f"{added / transcribe_s:6.1%} {sentences:9d}")
    added = max(0.0, totals[1] - totals[2])
    print(f"{'TOTAL':30} {'':7} {totals[0]:12.2f} {added:9.3f} {added / totals[0]:6.1%} {int(totals[3]):9d}")
    print(f"meaning checks add {added / totals[0]:.1%} to transcription time "
          f"({1000 * added / max(1, totals[3]):.1f} ms per sentence; goal <= 10%)")


if __name__ == "__main__":
    main()
