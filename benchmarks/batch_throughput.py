"""Batch benchmarks on the stereo example calls, measured in one run (compare within the run):

1. end-to-end pipeline (decode, transcribe, redact, score, store) vs plain faster-whisper on the
   same calls with the same model and settings, run alternately; prints the time ratio;
2. throughput of `qa score` on a batch of N calls (copies of the examples) with 1 and 2 workers,
   in audio seconds per wall second;
3. peak memory (resident set of the `qa score` process and its workers, summed).

    .venv/bin/python -m benchmarks.batch_throughput [--calls 50] [--rounds 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
from faster_whisper import WhisperModel, decode_audio

from qa.metadata import read_metadata
from qa.runner import BatchRunner, BatchSettings, find_audio
from qa.store import Store
from rubrics import rubric_path
from scoring import load_rubric
from transcribe.model import resolve_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def plain_faster_whisper(model: WhisperModel, path: Path, language: str) -> None:
    """What a user of faster-whisper alone would run: both channels, word timestamps, VAD."""
    for channel in decode_audio(str(path), split_stereo=True):
        segments, _ = model.transcribe(channel, language=language, beam_size=5, word_timestamps=True,
                                       vad_filter=True)
        list(segments)


def pipeline_vs_plain(rounds: int) -> None:
    files = find_audio([EXAMPLES])
    metadata = read_metadata(EXAMPLES / "calls.csv")
    rubric, text = load_rubric(rubric_path(None))
    plain_model = WhisperModel(resolve_model(None), device="cpu", compute_type="int8")
    plain_s = pipeline_s = 0.0
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        runner = BatchRunner(store, rubric, text, BatchSettings(force=True), metadata)
        runner.transcriber  # load before timing
        for _ in range(rounds):
            for path in files:
                t0 = time.perf_counter()
                plain_faster_whisper(plain_model, path, metadata[path.name].language)
                plain_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                assert runner.score_file(path, "bench").status == "scored"
                pipeline_s += time.perf_counter() - t0
    print(f"[1] {len(files)} stereo calls x {rounds} rounds: plain faster-whisper {plain_s:.1f} s, "
          f"pipeline {pipeline_s:.1f} s, ratio {pipeline_s / plain_s:.3f} (goal <= 1.15)")


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in family]
        family.update(children)
        frontier += children
    total = 0
    for p in family:
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def batch(n_calls: int, workers: int, work: Path) -> None:
    folder = work / f"batch{workers}"
    folder.mkdir()
    examples = find_audio([EXAMPLES])
    metadata = read_metadata(EXAMPLES / "calls.csv")
    rows = ["file,call_id,agent,team,date,language,agent_channel"]
    for i in range(n_calls):
        source = examples[i % len(examples)]
        meta = metadata[source.name]
        name = f"c{i:03d}_{source.name}"
        shutil.copy(source, folder / name)
        rows.append(f"{name},c{i:03d},{meta.agent},{meta.team},{meta.call_date},{meta.language},{meta.agent_channel}")
    (folder / "calls.csv").write_text("\n".join(rows) + "\n")
    db = folder / "qa.duckdb"
    cmd = [sys.executable, "-m", "qa.cli", "score", str(folder), "--metadata", str(folder / "calls.csv"),
           "--db", str(db), "--workers", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0.0]

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mib(proc.pid))
            time.sleep(0.25)

    watcher = threading.Thread(target=watch)
    watcher.start()
    proc.wait()
    watcher.join()
    wall = time.perf_counter() - t0
    with duckdb.connect(str(db), read_only=True) as con:
        scored, audio = con.execute("SELECT count(*), sum(duration_s) FROM calls").fetchone()
    assert scored == n_calls, f"only {scored} of {n_calls} calls scored"
    print(f"[2] {n_calls} calls, {audio:.0f} s of audio, {workers} worker(s): {wall:.1f} s wall = "
          f"{audio / wall:.1f} audio-s per wall-s;  [3] peak memory {peak[0]:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-ratio", action="store_true")
    args = parser.parse_args()
    if not args.skip_ratio:
        pipeline_vs_plain(args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            batch(args.calls, workers, Path(tmp))


if __name__ == "__main__":
    main()
