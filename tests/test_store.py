"""DuckDB store: one transaction per call, re-scoring replaces, nothing duplicated."""
from __future__ import annotations

import dataclasses
import json
import resource
import signal
import subprocess
import sys

import duckdb
import pytest

from qa.store import Store, StoreError
from qa_types import CallRecord, to_plain
from scoring import RubricScorer
from tests.builders import transcript
from tests.test_scoring_engine import GOOD_CALL


def _counts(store: Store) -> dict[str, int]:
    return {t: store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("calls", "turns", "scorecards", "criterion_results", "evidence", "rubrics", "criteria")}


@pytest.fixture
def scored(inbound_rubric):
    t = transcript(GOOD_CALL)
    return t, RubricScorer(inbound_rubric).score(t)


def test_saving_a_call_twice_replaces_it(tmp_path, inbound_rubric, scored):
    t, card = scored
    info = CallRecord(call_id="c1", file="c1.wav", content_hash="h1", agent="alice")
    with Store(tmp_path / "qa.duckdb") as store:
        store.save_rubric(inbound_rubric, "yaml text")
        store.save_call(info, t, card)
        first = _counts(store)
        store.save_rubric(inbound_rubric, "yaml text")
        store.save_call(info, t, card)
        assert _counts(store) == first
    assert first["calls"] == 1 and first["turns"] == len(t.turns)
    assert first["criterion_results"] == len(card.results) and first["rubrics"] == 1


def test_failed_write_leaves_previous_rows(tmp_path, inbound_rubric, scored, monkeypatch):
    t, card = scored
    info = CallRecord(call_id="c1", file="c1.wav", content_hash="h1")
    with Store(tmp_path / "qa.duckdb") as store:
        store.save_call(info, t, card)
        before = store.query("SELECT score FROM scorecards")

        def boom(*args, **kwargs):
            raise RuntimeError("disk full")

        monkeypatch.setattr(store, "_write_scorecards", boom)
        with pytest.raises(RuntimeError):
            store.save_call(CallRecord(call_id="c1", file="c1.wav", content_hash="h2"), t, card)
        assert store.query("SELECT content_hash FROM calls") == [{"content_hash": "h1"}]
        assert store.query("SELECT score FROM scorecards") == before
        assert len(store.query("SELECT * FROM turns")) == len(t.turns)


def test_evidence_rows_keep_times(tmp_path, scored):
    t, card = scored
    with Store(tmp_path / "qa.duckdb") as store:
        store.save_call(CallRecord(call_id="c1", file="c1.wav", content_hash="h1"), t, card)
        rows = store.query("SELECT quote, role, start_s, end_s FROM evidence WHERE criterion_id = ? "
                           "ORDER BY evidence_index", ["greeting"])
    assert rows[0]["quote"] == "Thank you for calling" and rows[0]["role"] == "agent"
    assert rows[0]["start_s"] == pytest.approx(0.5)


def test_call_metrics_are_json_that_sql_reads(tmp_path, scored):
    """A scorecard's call metrics are a DuckDB JSON column: SQL filters and computes on them
    directly; a scorecard without metrics holds NULL."""
    t, card = scored
    assert card.metrics is not None and card.metrics.talk_s["agent"] > 0
    with Store(tmp_path / "qa.duckdb") as store:
        store.save_call(CallRecord(call_id="c1", file="c1.wav", content_hash="h1"), t, card)
        store.save_call(CallRecord(call_id="c2", file="c2.wav", content_hash="h2"), t,
                        dataclasses.replace(card, metrics=None))
        rows = store.query("""
            SELECT call_id, typeof(metrics) AS type, (metrics->>'duration_s')::DOUBLE AS duration,
                   (metrics->>'dead_air_s')::DOUBLE AS dead_air, (metrics->'talk_s'->>'agent')::DOUBLE AS agent_talk,
                   json_array_length(metrics->'overtalk') AS overtalks
            FROM scorecards ORDER BY call_id""")
        long_calls = store.query("SELECT call_id FROM scorecards WHERE (metrics->>'duration_s')::DOUBLE > ?",
                                 [card.metrics.duration_s - 1])
    assert rows == [
        {"call_id": "c1", "type": "JSON", "duration": card.metrics.duration_s, "dead_air": card.metrics.dead_air_s,
         "agent_talk": card.metrics.talk_s["agent"], "overtalks": len(card.metrics.overtalk)},
        {"call_id": "c2", "type": "JSON", "duration": None, "dead_air": None, "agent_talk": None, "overtalks": None}]
    assert long_calls == [{"call_id": "c1"}]


def test_reports_read_typed_rows(tmp_path, inbound_rubric, scored):
    """The read methods the reports use: JSON columns decoded, results in rubric order with their
    evidence, the version picked by id or hash prefix."""
    t, card = scored
    with Store(tmp_path / "qa.duckdb") as store:
        store.save_rubric(inbound_rubric, "yaml text")
        store.save_call(CallRecord(call_id="c1", file="c1.wav", content_hash="h1", agent="alice", team="t1"), t, card)
    with Store(tmp_path / "qa.duckdb", read_only=True) as store:
        version = store.rubric_version()
        assert version["rubric_hash"] == inbound_rubric.content_hash and version["rubric_id"] == inbound_rubric.id
        assert store.rubric_version(inbound_rubric.content_hash[:8])["rubric_hash"] == inbound_rubric.content_hash
        assert store.rubric_version("no-such-rubric") is None
        call, = store.report_calls(inbound_rubric.content_hash)
        assert store.report_calls(inbound_rubric.content_hash, agents=["bob"]) == []
        assert len(store.report_calls(inbound_rubric.content_hash, teams=["t1"])) == 1
        results = store.criterion_results(inbound_rubric.content_hash, ["c1"])["c1"]
        criteria = store.criteria(inbound_rubric.content_hash)
        turns = store.turn_rows(["c1"])["c1"]
        sections = store.section_scores(inbound_rubric.content_hash, ["c1"])["c1"]
        assert store.calls_scored_only_with_other_versions(inbound_rubric.content_hash) == 0
    assert call["metrics"] == to_plain(card.metrics) and call["flags"] == card.flags
    assert call["warnings"] == [] and call["rubric_name"] == inbound_rubric.name and call["score"] == card.score
    assert [r["criterion_id"] for r in results] == list(criteria) == [c.id for _, c in inbound_rubric.criteria()]
    first = next(r for r in card.results if r.evidence)
    stored = next(r for r in results if r["criterion_id"] == first.criterion_id)
    assert [e["quote"] for e in stored["evidence"]] == [e.quote for e in first.evidence]
    assert [turn["text"] for turn in turns] == [turn.text for turn in t.turns]
    assert {s["section_id"] for s in sections} == {s.section_id for s in card.sections}


def test_locked_database_gives_one_clear_line(tmp_path):
    import subprocess
    import sys
    import time

    db = tmp_path / "held.duckdb"
    holder = subprocess.Popen([sys.executable, "-c",
                               f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ready', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError) as err:
            Store(db)
        assert "in use by another process" in str(err.value) and str(db) in str(err.value)
        assert f"(PID {holder.pid})" in str(err.value)
    finally:
        holder.kill()
        holder.wait()


# -- a full disk ------------------------------------------------------------------------------

def _import_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "qa.cli", "import", *args]


def _limit_file_size(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail with EFBIG (no SIGXFSZ kill)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_stops_an_import_with_one_line_and_keeps_the_stored_calls(tmp_path):
    """The file system refuses a write (here: RLIMIT_FSIZE, so writes fail with EFBIG as they
    fail with ENOSPC on a full disk): one line naming the database and the OS error, no
    traceback, and every call committed before is intact."""
    words = " ".join(f"parcel{i}" for i in range(1200))
    calls = [{"call_id": f"c{n:02d}", "agent": "alice", "language": "en",
              "turns": [{"role": "agent", "start": 0, "end": 2, "text": f"Thank you for calling. {words}"}]}
             for n in range(40)]
    (tmp_path / "calls.json").write_text(json.dumps(calls))
    (tmp_path / "first.json").write_text(json.dumps(calls[:1]))
    first = subprocess.run(_import_cmd("first.json", "--db", "qa.duckdb"), cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    run = subprocess.run(_import_cmd("calls.json", "--db", "qa.duckdb"), cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, preexec_fn=_limit_file_size(400_000))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stderr
    assert "qa.duckdb: cannot write to the database: file too large" in lines[0]
    assert "calls stored before are kept" in lines[0]
    with Store(tmp_path / "qa.duckdb") as store:
        stored = [r["call_id"] for r in store.query("SELECT call_id FROM calls ORDER BY call_id")]
        texts = {r["call_id"]: r["text"] for r in store.query("SELECT call_id, text FROM turns")}
        scored = {r["call_id"] for r in store.query("SELECT call_id FROM scorecards")}
    assert 1 < len(stored) < len(calls)
    assert stored == [c["call_id"] for c in calls[:len(stored)]]
    assert all(texts[c].endswith(f"parcel1199") for c in stored) and scored == set(stored)


class _DiskFillsUp:
    """The store's DuckDB connection, except that the COMMIT writing the second call fails as
    DuckDB fails on a full disk (ENOSPC)."""

    def __init__(self, con, db):
        self._con, self._db = con, db
        self.calls_written = 0
        self.failed = False

    def execute(self, sql, *args):
        if sql.startswith("INSERT INTO calls"):
            self.calls_written += 1
        if sql == "COMMIT" and self.calls_written == 2 and not self.failed:
            self.failed = True
            raise duckdb.TransactionException(
                f'TransactionContext Error: Failed to commit: Could not write file "{self._db}.wal": '
                "No space left on device")
        return self._con.execute(sql, *args)

    def reopened(self, con):
        """The same disk under a new connection (the store gives the file back between calls)."""
        self._con = con
        return self

    def __getattr__(self, name):
        return getattr(self._con, name)


def _runner(store, inbound_rubric, monkeypatch, transcribe):
    from qa.runner import BatchRunner, BatchSettings

    monkeypatch.setattr(BatchRunner, "check_model", lambda self: "model")
    monkeypatch.setattr(BatchRunner, "_transcribe_here", lambda self, job: transcribe(job))
    return BatchRunner(store, inbound_rubric, "yaml text", BatchSettings())


def _audio_files(tmp_path, n: int) -> list:
    files = []
    for i in range(n):
        (tmp_path / f"call{i}.wav").write_bytes(f"not decoded in this test {i}".encode())
        files.append(tmp_path / f"call{i}.wav")
    return files


def test_a_full_disk_stops_the_batch_with_one_store_error(tmp_path, inbound_rubric, monkeypatch):
    db = tmp_path / "qa.duckdb"
    transcribed = []

    def transcribe(job):
        transcribed.append(job.call_id)
        return transcript(GOOD_CALL)

    with Store(db) as store:
        runner = _runner(store, inbound_rubric, monkeypatch, transcribe)
        disk = _DiskFillsUp(store.con, db)
        store.con, connect = disk, store._connect
        monkeypatch.setattr(store, "_connect", lambda read_only: disk.reopened(connect(read_only)))
        with pytest.raises(StoreError) as err:
            runner.run(_audio_files(tmp_path, 3))
        message = str(err.value)
        assert message.startswith(f"{db}: ") and "no space left on device" in message and "\n" not in message
        assert transcribed == ["call0", "call1"]  # the batch stopped at the call that could not be stored
        assert [r["call_id"] for r in store.query("SELECT call_id FROM calls")] == ["call0"]
        assert store.query("SELECT * FROM failures") == []  # not one file's fault
        assert store.query("SELECT status, scored FROM runs") == [{"status": "stopped", "scored": 1}]
    with Store(db) as store:
        assert len(store.query("SELECT * FROM turns WHERE call_id = 'call0'")) == len(GOOD_CALL)


# -- runs that did not finish ------------------------------------------------------------------

def test_ctrl_c_marks_the_run_interrupted(tmp_path, inbound_rubric, monkeypatch):
    def transcribe(job):
        if job.call_id == "call1":
            raise KeyboardInterrupt
        return transcript(GOOD_CALL)

    with Store(tmp_path / "qa.duckdb") as store:
        runner = _runner(store, inbound_rubric, monkeypatch, transcribe)
        with pytest.raises(KeyboardInterrupt):
            runner.run(_audio_files(tmp_path, 3))
        assert store.query("SELECT status, scored, finished_at IS NOT NULL AS ended FROM runs") == [
            {"status": "interrupted", "scored": 1, "ended": True}]
    with Store(tmp_path / "qa.duckdb") as store:  # a finished or interrupted run is left as it is
        assert store.query("SELECT status FROM runs") == [{"status": "interrupted"}]


def test_a_finished_run_is_marked_finished(tmp_path, inbound_rubric, monkeypatch):
    with Store(tmp_path / "qa.duckdb") as store:
        runner = _runner(store, inbound_rubric, monkeypatch, lambda job: transcript(GOOD_CALL))
        runner.run(_audio_files(tmp_path, 2))
    with Store(tmp_path / "qa.duckdb") as store:
        assert store.query("SELECT status, scored FROM runs") == [{"status": "finished", "scored": 2}]


def test_a_killed_run_is_marked_interrupted_and_listed(tmp_path):
    db = tmp_path / "qa.duckdb"
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal\n"
        "from qa.store import Store\n"
        f"store = Store({str(db)!r})\n"
        "store.start_run('deadbeef', 'rubric', 'base', 4)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    listed = subprocess.run([sys.executable, "-m", "qa.cli", "failures", "--db", str(db)], capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "run deadbeef" in listed.stdout and "interrupted" in listed.stdout
    with Store(db) as store:  # the next writer knows the run's process is gone
        assert store.query("SELECT status FROM runs") == [{"status": "interrupted"}]
