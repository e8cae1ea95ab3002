"""Batch scoring survives bad input and SIGKILL: every good call stored exactly once, each bad
file recorded with a precise reason, nothing lost."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import wave

import duckdb
import numpy as np
import pytest

from tests.conftest import EXAMPLES, qa

pytestmark = pytest.mark.slow
GOOD = EXAMPLES / "en_01_alice_good.wav"


def _wav(path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())


def test_bad_inputs_are_recorded_and_good_files_scored(tmp_path):
    shutil.copy(GOOD, tmp_path / "good.wav")
    (tmp_path / "garbage.wav").write_bytes(os.urandom(4000))
    truncated = GOOD.read_bytes()
    (tmp_path / "truncated.wav").write_bytes(truncated[: len(truncated) // 3])
    _wav(tmp_path / "zero_length.wav", np.zeros(0))
    _wav(tmp_path / "silence.wav", np.zeros(16000 * 20))
    (tmp_path / "notes.mp3").write_text("this is a text file, not audio\n" * 50)
    (tmp_path / "empty.wav").write_bytes(b"")
    files = ["good.wav", "garbage.wav", "truncated.wav", "zero_length.wav", "silence.wav", "notes.mp3",
             "empty.wav", "missing.wav"]
    run = qa("score", *files, "--language", "en", "--db", "qa.duckdb", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    assert [r[0] for r in con.execute("SELECT call_id FROM scorecards").fetchall()] == ["good"]
    reasons = dict(con.execute("SELECT call_id, reason FROM failures").fetchall())
    con.close()
    assert "unreadable audio" in reasons["garbage"]
    assert "truncated audio: the header declares" in reasons["truncated"]
    assert "no audio samples" in reasons["zero_length"]
    assert "silence only" in reasons["silence"]
    assert "notes.mp3: unreadable audio" in reasons["notes"] or "no audio stream" in reasons["notes"]
    assert "empty file (0 bytes)" in reasons["empty"]
    assert "missing.wav: file not found" in reasons["missing"]
    listed = qa("failures", "--db", "qa.duckdb", cwd=tmp_path)
    assert listed.returncode == 0 and "truncated.wav" in listed.stdout


def test_sigkill_then_rerun_completes_the_batch_exactly_once(tmp_path):
    names = [f"call{i}.wav" for i in range(4)]
    for name in names:
        shutil.copy(GOOD, tmp_path / name)
    cmd = [sys.executable, "-m", "qa.cli", "score", *names, "--language", "en", "--db", "qa.duckdb", "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # kill right after the first call is stored, mid-way through the second
        if line.startswith("scored call"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    partial = con.execute("SELECT count(*) FROM scorecards").fetchone()[0]
    con.close()
    assert 1 <= partial < len(names)

    rerun = qa("score", *names, "--language", "en", "--db", "qa.duckdb", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.count("skipped") >= partial
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    per_call = dict(con.execute("SELECT call_id, count(*) FROM criterion_results GROUP BY call_id").fetchall())
    assert per_call == {f"call{i}": 10 for i in range(4)}
    assert con.execute("SELECT count(*), count(DISTINCT call_id) FROM calls").fetchone() == (4, 4)
    assert con.execute("SELECT count(*) FROM scorecards").fetchone()[0] == 4
    turns = con.execute("SELECT call_id, count(*) FROM turns GROUP BY call_id").fetchall()
    assert len({n for _, n in turns}) == 1  # identical audio -> identical, complete transcripts
    con.close()


def test_three_hour_recording_decodes_in_bounded_memory(tmp_path):
    """Decoding streams 10-minute chunks: peak memory stays far below the decoded size (~1.4 GB)."""
    long = tmp_path / "three_hours.wav"
    rate, seconds = 8000, 3 * 3600
    rng = np.random.default_rng(0)
    with wave.open(str(long), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        block = (rng.standard_normal(rate * 60 * 2) * 300).astype("<i2").tobytes()
        for _ in range(seconds // 60):
            out.writeframes(block)
    code = ("import resource, sys; from transcribe.audio import AudioStream\n"
            "s = AudioStream(sys.argv[1])\n"
            "n = sum(1 for _ in s); s.check_complete()\n"
            "print(n, round(s.decoded_seconds), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(long)], capture_output=True, text=True, timeout=600,
                         cwd=EXAMPLES.parent)
    assert out.returncode == 0, out.stderr
    chunks, decoded, peak_mib = map(int, out.stdout.split())
    print(f"\n3-hour stereo file: {chunks} chunks, {decoded} s decoded, peak RSS {peak_mib} MiB")
    assert decoded == seconds and chunks == 18
    assert peak_mib < 800  # the whole file decoded at once would need ~1,400 MiB
