"""Real-time factor of transcription alone vs the whole pipeline, on the same calls, in one run.

For each call, alternately: (a) transcribe only; (b) the full path the CLI takes (decode,
transcribe, score, store in a scratch DuckDB). Both share one loaded model. Prints per-call
and total real-time factors (processing seconds / audio seconds) and their ratio.

    .venv/bin/python -m benchmarks.pipeline_rtf [examples/] [--metadata examples/calls.csv] [--rounds 1]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from qa.metadata import read_metadata
from qa.runner import BatchRunner, BatchSettings, find_audio
from qa.store import Store
from rubrics import rubric_path
from scoring import load_rubric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["examples"])
    parser.add_argument("--metadata", default="examples/calls.csv")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    files = find_audio(args.paths)
    metadata = read_metadata(args.metadata) if Path(args.metadata).is_file() else {}
    rubric, text = load_rubric(rubric_path(None))
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        runner = BatchRunner(store, rubric, text, BatchSettings(force=True), metadata)
        transcriber = runner.transcriber  # load the model before timing
        audio_total = plain_total = full_total = 0.0
        print(f"{'call':32} {'audio s':>8} {'transcribe RTF':>15} {'pipeline RTF':>13} {'ratio':>6}")
        for path in files:
            meta = metadata.get(path.name)
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                transcript = transcriber.transcribe(
                    path, language=meta.language if meta else None,
                    agent_channel=meta.agent_channel if meta and meta.agent_channel is not None else 0)
                plain = time.perf_counter() - t0
                t0 = time.perf_counter()
                outcome = runner.score_file(path, "bench")
                full = time.perf_counter() - t0
                assert outcome.status == "scored", outcome.reason
                audio_total += transcript.duration
                plain_total += plain
                full_total += full
                print(f"{path.name:32} {transcript.duration:8.1f} {plain / transcript.duration:15.3f} "
                      f"{full / transcript.duration:13.3f} {full / plain:6.3f}")
        print(f"{'TOTAL':32} {audio_total:8.1f} {plain_total / audio_total:15.3f} "
              f"{full_total / audio_total:13.3f} {full_total / plain_total:6.3f}")


if __name__ == "__main__":
    main()
