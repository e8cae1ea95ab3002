"""A Whisper model that cannot be loaded stops `qa score` with one line naming it (exit 2), with
one worker or several; calls already stored stay. A worker process that dies does not become a
traceback."""
from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import duckdb
import pytest

from qa import runner as runner_module
from qa.runner import BatchRunner, BatchSettings
from qa.store import CallInfo, Store
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
        store.save_call(CallInfo(call_id="kept", file="kept.wav", content_hash="h1", agent="alice"), t,
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


class _PoolWhoseWorkerDied:
    """Stands in for ProcessPoolExecutor after a worker was killed: every task fails with
    BrokenProcessPool, as concurrent.futures reports it."""

    def __init__(self, *args, **kwargs):
        self.shut_down = False

    def submit(self, fn, *args):
        future = Future()
        future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        self.shut_down = True


def test_a_dead_worker_records_the_unfinished_files_instead_of_a_traceback(tmp_path, stored_db, inbound_rubric,
                                                                            monkeypatch):
    monkeypatch.setattr(runner_module, "ProcessPoolExecutor", _PoolWhoseWorkerDied)
    model_dir = tmp_path / "model"  # an existing folder resolves without loading anything
    model_dir.mkdir()
    settings = BatchSettings(transcriber=TranscriberOptions(model=str(model_dir), diarization=None))
    files = [EXAMPLES / "en_01_alice_good.wav", EXAMPLES / "en_02_alice_nogreeting.wav",
             EXAMPLES / "en_03_bob_empathy.wav"]
    with Store(stored_db) as store:
        result = BatchRunner(store, inbound_rubric, "yaml text", settings).run(files, workers=2)
        failures = dict(store.con.execute("SELECT call_id, reason FROM failures").fetchall())
        kept = store.con.execute("SELECT call_id FROM scorecards").fetchall()
        finished = store.con.execute("SELECT finished_at IS NOT NULL, failed FROM runs").fetchall()
    assert [o.status for o in result.outcomes] == ["failed"] * 3
    assert set(failures) == {f.stem for f in files}
    assert all("worker process stopped unexpectedly" in r and "run the same command again" in r
               for r in failures.values())
    assert kept == [("kept",)]
    assert finished == [(True, 3)]
