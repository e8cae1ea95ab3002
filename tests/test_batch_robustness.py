"""Batch scoring survives bad input and SIGKILL: every good call stored exactly once, each bad
file recorded with a precise reason, nothing lost. Worker processes end with the batch: after a
clean finish, and when the main process is killed; a killed worker is replaced."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests.conftest import EXAMPLES, eval_file, qa

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


# -- worker processes ------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    return children


def _descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its command line."""
    children, found, todo = _children(), {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            todo.append(child)
    return found


def _group(pgid: int) -> list[int]:
    """Live processes of a process group (a `start_new_session` child and all it started)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _workers(pid: int) -> dict[int, str]:
    return {p: cmd for p, cmd in _descendants(pid).items() if "spawn_main" in cmd}


def _kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
# two real mono recordings, short ones: each is diarized in its worker's diarizer process
MONO = "pyannote_sample/sample.wav", "deepspeech_smoke/new-home-in-the-stars-16k.wav"


@needs_proc
def test_mono_calls_with_two_workers_finish_and_leave_no_process_behind(tmp_path):
    """Each worker diarizes in a child process of its own; at the end of the batch the workers
    release it and exit (they used to wait for ever on it, holding the database)."""
    mono = [str(eval_file(f)) for f in MONO]
    log = (tmp_path / "out.txt").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "score", *mono, "--language", "en", "--db", "qa.duckdb",
                             "--workers", "2"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 900
    while proc.poll() is None and time.monotonic() < deadline:
        seen.update(_descendants(proc.pid))
        time.sleep(1)
    if proc.poll() is None:
        leftover = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        _kill_all(leftover)
        pytest.fail(f"qa score did not end; processes left: {sorted(leftover.values())}\n"
                    + (tmp_path / "out.txt").read_text()[-3000:])
    output = (tmp_path / "out.txt").read_text()
    assert proc.returncode == 0, output
    assert "scored sample" in output and "scored new-home-in-the-stars-16k" in output, output
    assert sum("spawn_main" in cmd for cmd in seen.values()) >= 3  # two workers and a diarizer process
    time.sleep(2)
    assert [pid for pid in seen if _alive(pid)] == []
    assert _group(proc.pid) == []
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    assert sorted(r[0] for r in con.execute("SELECT call_id FROM scorecards").fetchall()) == \
        ["new-home-in-the-stars-16k", "sample"]
    con.close()


@needs_proc
def test_a_worker_killed_mid_batch_is_replaced_and_every_call_scored(tmp_path):
    names = [f"call{i}.wav" for i in range(4)]
    for name in names:
        shutil.copy(GOOD, tmp_path / name)
    cmd = [sys.executable, "-m", "qa.cli", "score", *names, "--language", "en", "--db", "qa.duckdb", "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = []
    try:
        for line in proc.stdout:  # a worker is killed once the first call is stored, mid-way through the rest
            lines.append(line)
            if line.startswith("scored call"):
                break
        victim = min(_workers(proc.pid))
        os.kill(victim, signal.SIGKILL)
        print(f"\nkilled worker {victim} after: {lines[-1].strip()}")
        lines += proc.stdout.readlines()
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert "Traceback" not in output and not any(line.startswith("failed") for line in lines), output
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    assert sorted(r[0] for r in con.execute("SELECT call_id FROM scorecards").fetchall()) == \
        ["call0", "call1", "call2", "call3"]
    assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
    con.close()


@needs_proc
def test_workers_and_their_diarizer_processes_exit_when_qa_is_killed(tmp_path):
    """kill -9 of `qa score`: its workers (each ~0.8 GB) and the diarizer processes they started
    do not stay behind waiting for work."""
    mono = [str(eval_file(f)) for f in MONO]
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "score", *mono, "--language", "en", "--db", "qa.duckdb",
                             "--workers", "2"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    helpers: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:  # until a worker has its diarizer process
            helpers.update(_workers(proc.pid))
            if len(helpers) >= 3:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "qa score ended before the test could kill it"
        assert len(helpers) >= 2, helpers
        print(f"\nkilling qa score {proc.pid}; its helper processes: {sorted(helpers)}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (any(_alive(pid) for pid in helpers) or _group(proc.pid)):
            time.sleep(0.2)
        assert [cmd for pid, cmd in helpers.items() if _alive(pid)] == []
        assert _group(proc.pid) == []  # nor any helper started after the kill
    finally:
        if _group(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        _kill_all(pid for pid in helpers if _alive(pid))
        if proc.poll() is None:
            proc.kill()
