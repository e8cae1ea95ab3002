"""A Whisper model that cannot be loaded stops `qa score` with one line naming it (exit 2), with
one worker or several; calls already stored stay. A worker process that dies does not become a
traceback: its pool is replaced, its file retried once, and a file that kills its worker twice is
recorded as failed."""
from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import duckdb
import pytest

from qa import runner as runner_module
from qa.runner import BatchRunner, BatchSettings
from qa.store import Store
from qa_types import CallRecord
from scoring import RubricScorer
from tests.builders import transcript
from tests.conftest import EXAMPLES, qa
from tests.test_scoring_engine import GOOD_CALL
from transcribe import TranscriberOptions

CALLS = [str(EXAMPLES / "en_01_alice_good.wav"), str(EXAMPLES / "en_02_alice_nogreeting.wav")]


@pytest.fixture
def stored_db(tmp_path, inbound_rubric):
    """A database already holding one scored call."""
    db = tmp_path / "qa.duckdb"
    t = transcript(GOOD_CALL)
    with Store(db) as store:
        store.save_rubric(inbound_rubric, "yaml text")
        store.save_call(CallRecord(call_id="kept", file="kept.wav", content_hash="h1", agent="alice"), t,
                        RubricScorer(inbound_rubric).score(t))
    return db


def _broken_model(folder):
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"this is not a CTranslate2 model" * 100)
    (folder / "config.json").write_text('{"alignment_heads": [], "lang_ids": []}')
    return folder


def _assert_stopped_with_one_line(run, model_path, db):
    assert run.returncode == 2, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert "Traceback" not in output and "BrokenProcessPool" not in output
    naming = [line for line in run.stderr.splitlines() if str(model_path) in line]
    assert len(naming) == 1, run.stderr
    assert naming[0].startswith("error: model ")
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT call_id FROM scorecards").fetchall() == [("kept",)]
        assert con.execute("SELECT call_id FROM calls").fetchall() == [("kept",)]
        # the recordings were not at fault: none is recorded as a failed file
        assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
    finally:
        con.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_broken_model_stops_the_batch_with_one_line(tmp_path, stored_db, workers):
    model = _broken_model(tmp_path / "broken-model")
    run = qa("score", *CALLS, "--model", str(model), "--db", str(stored_db), "--workers", workers,
             "--language", "en", cwd=tmp_path, timeout=300)
    _assert_stopped_with_one_line(run, model, stored_db)
    assert "cannot be loaded" in run.stderr


def test_a_model_folder_that_does_not_exist_is_one_line(tmp_path, stored_db):
    missing = tmp_path / "no" / "such" / "model"
    run = qa("score", *CALLS, "--model", str(missing), "--db", str(stored_db), "--workers", "2",
             cwd=tmp_path, timeout=300)
    _assert_stopped_with_one_line(run, missing, stored_db)
    assert "folder not found" in run.stderr


class _FakePool:
    """Stands in for ProcessPoolExecutor without processes: each task "runs" at once (the worker
    notes that it began it, as `qa.runner._transcribe_in_worker` does) and gives back a
    transcript, unless `dies(pool number, job)` says its worker dies then. A dead worker breaks
    the pool as concurrent.futures reports it: that task fails with BrokenProcessPool and every
    later submit raises it."""

    started_pools = 0
    dies = staticmethod(lambda pool, job: False)

    def __init__(self, workers, mp_context=None, initializer=None, initargs=()):
        type(self).started_pools += 1
        self.number = type(self).started_pools
        self.started = initargs[2]
        self.broken = False

    def submit(self, fn, job, index):
        if self.broken:
            raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")
        future = Future()
        if self.dies(self.number, job) == "before it begins":
            self.broken = True
            future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
            return future
        self.started[index] = 4242
        if self.dies(self.number, job):
            self.broken = True
            future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
        else:
            future.set_result(transcript(GOOD_CALL))
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        pass


FILES = [EXAMPLES / "en_01_alice_good.wav", EXAMPLES / "en_02_alice_nogreeting.wav",
         EXAMPLES / "en_03_bob_empathy.wav"]


def _run_with_pool(tmp_path, stored_db, inbound_rubric, monkeypatch, dies):
    monkeypatch.setattr(_FakePool, "started_pools", 0)
    monkeypatch.setattr(_FakePool, "dies", staticmethod(dies))
    monkeypatch.setattr(runner_module, "ProcessPoolExecutor", _FakePool)
    model_dir = tmp_path / "model"  # an existing folder resolves without loading anything
    model_dir.mkdir()
    settings = BatchSettings(transcriber=TranscriberOptions(model=str(model_dir), diarization=None))
    with Store(stored_db) as store:
        result = BatchRunner(store, inbound_rubric, "yaml text", settings).run(FILES, workers=2)
        failures = dict(store.con.execute("SELECT call_id, reason FROM failures").fetchall())
        scored = sorted(r[0] for r in store.con.execute("SELECT call_id FROM scorecards").fetchall())
        finished = store.con.execute("SELECT finished_at IS NOT NULL, scored, failed FROM runs").fetchall()
    return result, failures, scored, finished


def test_a_dead_worker_is_replaced_and_its_file_retried(tmp_path, stored_db, inbound_rubric, monkeypatch):
    """The worker transcribing the second file dies: the pool is replaced, that file is retried
    and every file is scored."""
    result, failures, scored, finished = _run_with_pool(
        tmp_path, stored_db, inbound_rubric, monkeypatch,
        dies=lambda pool, job: pool == 1 and job.path == FILES[1])
    assert sorted(o.status for o in result.outcomes) == ["scored"] * 3
    assert failures == {}
    assert scored == ["en_01_alice_good", "en_02_alice_nogreeting", "en_03_bob_empathy", "kept"]
    assert finished == [(True, 3, 0)]
    assert _FakePool.started_pools == 2


def test_a_file_that_kills_its_worker_twice_is_recorded_as_failed(tmp_path, stored_db, inbound_rubric,
                                                                  monkeypatch):
    result, failures, scored, finished = _run_with_pool(
        tmp_path, stored_db, inbound_rubric, monkeypatch, dies=lambda pool, job: job.path == FILES[1])
    outcomes = {o.call_id: o.status for o in result.outcomes}
    assert outcomes == {"en_01_alice_good": "scored", "en_02_alice_nogreeting": "failed",
                        "en_03_bob_empathy": "scored"}
    assert list(failures) == ["en_02_alice_nogreeting"]
    reason = failures["en_02_alice_nogreeting"]
    assert reason.startswith(f"{FILES[1]}: ") and "died twice while transcribing this file" in reason
    assert "\n" not in reason and "Traceback" not in reason
    assert scored == ["en_01_alice_good", "en_03_bob_empathy", "kept"]
    assert finished == [(True, 2, 1)]


def test_pools_that_keep_dying_record_the_unfinished_files_instead_of_a_traceback(tmp_path, stored_db,
                                                                                  inbound_rubric, monkeypatch):
    """Workers that die before they begin any file (a model that crashes while loading): two
    pools are tried, then every file is recorded as failed with a reason to run it again."""
    result, failures, scored, finished = _run_with_pool(
        tmp_path, stored_db, inbound_rubric, monkeypatch, dies=lambda pool, job: "before it begins")
    assert [o.status for o in result.outcomes] == ["failed"] * 3
    assert set(failures) == {f.stem for f in FILES}
    assert all(r.startswith(str(FILES[0].parent)) and "worker processes keep stopping unexpectedly" in r
               and "run the same command again" in r for r in failures.values())
    assert scored == ["kept"]
    assert finished == [(True, 0, 3)]
    assert _FakePool.started_pools == 2
