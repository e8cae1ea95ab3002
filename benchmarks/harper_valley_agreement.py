"""Agreement of the greeting and closing criteria with Harper Valley's own dialog acts.

Imports ../shared/eval/harper_valley_text/*.json (ASR transcripts), scores them with the
inbound-support rubric and compares, per call, "criterion passed" with "an agent segment
carries gridspace_greeting / gridspace_closing"; also per agent segment, "a rubric phrase
matched in this segment" with "this segment carries the act".

    .venv/bin/python -m benchmarks.harper_valley_agreement [FOLDER]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rubrics import rubric_path
from scoring import RubricScorer, load_rubric
from scoring.text import pipeline
from transcribe.importers import read_transcripts

CRITERIA = {"greeting": "gridspace_greeting", "closing": "gridspace_closing"}


def agreement(folder: Path) -> dict:
    rubric, _ = load_rubric(rubric_path("inbound_support"))
    scorer = RubricScorer(rubric)
    calls = segs = 0
    call_agree = {c: 0 for c in CRITERIA}
    seg_agree = {c: 0 for c in CRITERIA}
    rows = []
    for path in sorted(folder.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        call = read_transcripts(path, "harper-valley")[0]
        card = scorer.score(call.transcript)
        calls += 1
        agent_segments = [s for s in raw["segments"] if s["speaker_role"] == "agent"]
        for criterion, act in CRITERIA.items():
            labelled = any(act in s["dialog_acts"] for s in agent_segments)
            passed = card.result(criterion).outcome.value == "pass"
            call_agree[criterion] += labelled == passed
            rows.append((call.call_id, criterion, labelled, passed))
        matchers = {c: scorer.matcher(f"${c}", "en", True) for c in CRITERIA}
        for seg in agent_segments:
            segs += 1
            doc = pipeline("en")(seg["transcript"])
            for criterion, act in CRITERIA.items():
                seg_agree[criterion] += (act in seg["dialog_acts"]) == bool(matchers[criterion].find(doc))
    return {"calls": calls, "segments": segs, "call_agree": call_agree, "seg_agree": seg_agree, "rows": rows}


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/eval/harper_valley_text")
    result = agreement(folder)
    for call_id, criterion, labelled, passed in result["rows"]:
        print(f"{call_id}  {criterion:8}  dialog act: {'yes' if labelled else 'no ':3}  criterion passed: {'yes' if passed else 'no'}")
    for criterion in CRITERIA:
        print(f"{criterion}: call-level agreement {result['call_agree'][criterion]}/{result['calls']}, "
              f"agent-segment agreement {result['seg_agree'][criterion]}/{result['segments']} "
              f"({100 * result['seg_agree'][criterion] / result['segments']:.0f}%)")


if __name__ == "__main__":
    main()
