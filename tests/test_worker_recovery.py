"""Transcription workers that die: real worker processes (spawned, as in `qa score --workers`),
with the model swapped for `tests.worker_faults` so that they die on chosen files in seconds.
The same runs with the real model and an outside kill are in test_batch_robustness.py."""
from __future__ import annotations

import shutil

import pytest

from qa import runner as runner_module
from qa.runner import BatchRunner, BatchSettings
from qa.store import Store
from tests import worker_faults
from tests.conftest import EXAMPLES
from transcribe import TranscriberOptions

GOOD = EXAMPLES / "en_01_alice_good.wav"


@pytest.fixture
def batch(tmp_path, inbound_rubric, monkeypatch):
    """Runs a batch of copies of one example call (named as given) in two real worker processes
    running `tests.worker_faults`; gives (outcomes by call id, failures by call id)."""
    monkeypatch.setattr(runner_module, "_load_worker_model", worker_faults.load)
    monkeypatch.setattr(runner_module, "_transcribe_in_worker", worker_faults.transcribe_or_die)
    model_dir = tmp_path / "model"  # an existing folder resolves without loading anything
    model_dir.mkdir()
    settings = BatchSettings(transcriber=TranscriberOptions(model=str(model_dir), diarization=None))

    def run(names: list[str]):
        files = []
        for name in names:
            shutil.copy(GOOD, tmp_path / name)
            files.append(tmp_path / name)
        with Store(tmp_path / "qa.duckdb") as store:
            result = BatchRunner(store, inbound_rubric, "yaml text", settings).run(files, workers=2)
            failures = dict(store.con.execute("SELECT call_id, reason FROM failures").fetchall())
        return {o.call_id: o for o in result.outcomes}, failures

    return run


def test_a_worker_killed_mid_batch_is_replaced_and_its_file_retried(batch):
    outcomes, failures = batch(["a.wav", "b_dies_once.wav", "c.wav", "d.wav", "e.wav"])
    assert {c: o.status for c, o in outcomes.items()} == dict.fromkeys(["a", "b_dies_once", "c", "d", "e"], "scored")
    assert failures == {}


def test_a_file_that_kills_its_worker_twice_is_failed_and_the_rest_scored(batch, tmp_path):
    outcomes, failures = batch(["a.wav", "b_poison.wav", "c.wav", "d.wav"])
    assert {c: o.status for c, o in outcomes.items()} == {"a": "scored", "b_poison": "failed", "c": "scored",
                                                          "d": "scored"}
    assert list(failures) == ["b_poison"]
    reason = failures["b_poison"]
    assert reason == outcomes["b_poison"].reason
    assert reason.startswith(f"{tmp_path / 'b_poison.wav'}: not transcribed: the transcription worker process "
                             "died twice while transcribing this file")
    assert "\n" not in reason
