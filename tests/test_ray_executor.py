"""`qa score --executor ray`: the example calls scored on a real two-node Ray cluster started on
this machine (bound to 127.0.0.1), compared with the local executor; a node killed mid-batch;
pool sizing; the one-line errors when Ray is missing or the executor is unknown."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from qa.executors import ExecutorError
from qa.ray_executor import plan_pool
from tests.conftest import EXAMPLES, REPO, one_line_error
from transcribe import TranscriberOptions

# A Ray started in this process binds to 127.0.0.1 (read by Ray when it is first imported).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

CALLS = ["en_01_alice_good", "en_05_alice_hold_ok", "ru_01_olga_empathy", "tr_01_olga_hold"]
MORE_CALLS = ["en_02_alice_nogreeting", "en_07_bob_abusive"]


# ---- pool sizing (no Ray needed) ----

def test_cpu_pool_fills_the_free_cpus_with_one_thread_actors():
    plan = plan_pool([{"CPU": 1}, {"CPU": 1}], {"CPU": 2}, TranscriberOptions())
    assert (plan.actors, plan.num_cpus, plan.num_gpus, plan.options.cpu_threads) == (2, 1, 0, 1)
    assert plan.options.device == "cpu"


def test_workers_share_the_free_cpus_and_never_exceed_what_fits():
    plan = plan_pool([{"CPU": 16}], {"CPU": 16}, TranscriberOptions(), workers=4)
    assert (plan.actors, plan.num_cpus, plan.options.cpu_threads) == (4, 4, 4)
    assert plan_pool([{"CPU": 1}, {"CPU": 1}], {"CPU": 2}, TranscriberOptions(), workers=8).actors == 2
    # each node holds whole actors: two 3-CPU nodes hold two 2-thread actors, not three
    assert plan_pool([{"CPU": 3}, {"CPU": 3}], {"CPU": 6}, TranscriberOptions(cpu_threads=2)).actors == 2
    # busy CPUs count: 4 free of 8 leave room for two 2-thread actors
    assert plan_pool([{"CPU": 4}, {"CPU": 4}], {"CPU": 4}, TranscriberOptions(cpu_threads=2)).actors == 2


def test_threads_never_exceed_the_largest_node():
    plan = plan_pool([{"CPU": 2}, {"CPU": 2}], {"CPU": 4}, TranscriberOptions(), workers=1)
    assert (plan.actors, plan.num_cpus) == (1, 2)


def test_no_room_is_one_clear_error():
    with pytest.raises(ExecutorError, match=r"no room on the Ray cluster .*needs 4 CPU.*free: 2 CPU"):
        plan_pool([{"CPU": 2}], {"CPU": 2}, TranscriberOptions(cpu_threads=4))
    with pytest.raises(ExecutorError, match="needs 1 CPU and 1 GPU"):
        plan_pool([{"CPU": 8}], {"CPU": 8}, TranscriberOptions(device="cuda"))


def test_gpu_actors_take_one_gpu_and_an_explicit_cpu():
    nodes = [{"CPU": 8, "GPU": 2}, {"CPU": 8}]
    plan = plan_pool(nodes, {"CPU": 16, "GPU": 2}, TranscriberOptions(device="auto"))
    assert (plan.actors, plan.num_gpus, plan.num_cpus, plan.options.device) == (2, 1, 1, "cuda")
    assert plan_pool(nodes, {"CPU": 16, "GPU": 2}, TranscriberOptions(device="cpu")).num_gpus == 0
    assert plan_pool([{"CPU": 8}], {"CPU": 8}, TranscriberOptions(device="auto")).options.device == "cpu"


# ---- the CLI's errors (no model, nothing written) ----

def _score_cli(tmp_path, *args, hide_ray=False):
    hide = "import sys; sys.modules['ray'] = None; " if hide_ray else ""
    code = hide + "from qa.cli import app; app(prog_name='qa')"
    return subprocess.run([sys.executable, "-c", code, "score", str(EXAMPLES / "en_01_alice_good.wav"),
                           "--db", str(tmp_path / "qa.duckdb"), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_executor_ray_without_ray_is_one_line(tmp_path):
    line = one_line_error(_score_cli(tmp_path, "--executor", "ray", hide_ray=True))
    assert "--executor ray needs Ray: pip install 'callqa[ray]'" in line
    assert not (tmp_path / "qa.duckdb").exists()


def test_unknown_executor_is_one_line(tmp_path):
    line = one_line_error(_score_cli(tmp_path, "--executor", "dask"))
    assert "--executor dask: unknown executor (use local, ray)" in line
    assert not (tmp_path / "qa.duckdb").exists()


def test_an_address_where_nothing_listens_is_one_error_at_once():
    from qa.ray_executor import _probe

    with pytest.raises(ExecutorError, match=r"--ray-address 127.0.0.1:1: no Ray cluster answers there"):
        _probe("127.0.0.1:1")
    _probe("auto")  # left to Ray


# ---- actors that die, on a private local Ray instance (no model) ----

class DyingActor:
    """Stands in for `qa.ray_executor.TranscriberActor`: loads nothing and returns a fixed good
    call, but a file named *poison* kills its actor process (SIGKILL, as the OOM killer would)
    every time; one named *doom* leaves a file `doom` beside the model folder of `options.model`,
    after which every actor dies, while starting or on its next file."""

    def __init__(self, options):
        self.doom = Path(options.model).with_name("doom")
        if self.doom.exists():
            os.kill(os.getpid(), signal.SIGKILL)

    def ready(self):
        return None

    def transcribe(self, job):
        if "doom" in job.path.name:
            self.doom.touch()
        if "poison" in job.path.name or self.doom.exists():
            os.kill(os.getpid(), signal.SIGKILL)
        from tests.builders import transcript
        from tests.test_scoring_engine import GOOD_CALL

        return transcript(GOOD_CALL)


@pytest.fixture
def dying_batch(tmp_path, inbound_rubric, monkeypatch):
    """Runs copies of one example call (named as given) on two `DyingActor`s of a private Ray
    instance; gives (outcomes by call id, failures by call id)."""
    pytest.importorskip("ray")
    from qa import ray_executor
    from qa.runner import BatchRunner, BatchSettings
    from qa.store import Store

    monkeypatch.setattr(ray_executor, "TranscriberActor", DyingActor)
    model = tmp_path / "model"  # an existing folder resolves without loading anything
    model.mkdir()
    settings = BatchSettings(transcriber=TranscriberOptions(model=str(model), diarization=None))

    def run(names: list[str]):
        files = []
        for name in names:
            shutil.copy(EXAMPLES / "en_01_alice_good.wav", tmp_path / name)
            files.append(tmp_path / name)
        with Store(tmp_path / "qa.duckdb") as store:
            result = BatchRunner(store, inbound_rubric, "yaml text", settings).run(files, workers=2, executor="ray")
            failures = dict(store.con.execute("SELECT call_id, reason FROM failures").fetchall())
        return {o.call_id: o for o in result.outcomes}, failures

    return run


def test_a_file_that_kills_its_actor_twice_is_failed_and_the_rest_scored(dying_batch, tmp_path):
    outcomes, failures = dying_batch(["a.wav", "b_poison.wav", "c.wav", "d.wav", "e.wav"])
    assert {c: o.status for c, o in outcomes.items()} == {"a": "scored", "b_poison": "failed", "c": "scored",
                                                          "d": "scored", "e": "scored"}
    assert list(failures) == ["b_poison"] and failures["b_poison"] == outcomes["b_poison"].reason
    assert failures["b_poison"].startswith(f"{tmp_path / 'b_poison.wav'}: not transcribed: the Ray actor "
                                           "transcribing it died twice while transcribing this file")
    assert "\n" not in failures["b_poison"]


def test_when_no_actor_is_left_the_remaining_files_are_failed_with_a_line_to_rerun(dying_batch, tmp_path):
    names = ["a_doom", "b", "c", "d", "e"]
    outcomes, failures = dying_batch([f"{name}.wav" for name in names])
    assert set(outcomes) == set(names)  # each file once
    assert outcomes["a_doom"].status == "failed"
    assert set(failures) == {c for c, o in outcomes.items() if o.status == "failed"}
    rerun = []
    for call_id, reason in failures.items():
        assert reason.startswith(f"{tmp_path / (call_id + '.wav')}: not transcribed: ") and "\n" not in reason
        if "died twice" not in reason:  # a_doom may die a second time on the last live actor
            assert "no Ray transcription actor is left and none can be started" in reason
            assert reason.endswith("run the same command again to retry")
            rerun.append(call_id)
    assert rerun


def test_no_actor_can_start_is_one_error_line(dying_batch, tmp_path):
    (tmp_path / "doom").touch()
    with pytest.raises(ExecutorError) as raised:
        dying_batch(["a.wav", "b.wav"])
    assert str(raised.value).startswith("no transcription actor could be started on the Ray cluster (each needs "
                                        "1 CPU): ActorDiedError: ")
    assert "\n" not in str(raised.value)


# ---- a real two-node cluster on this machine (runs the Whisper model) ----

@pytest.fixture(scope="module")
def cluster():
    """A head and one worker node, one CPU each, on 127.0.0.1 (node death noticed within ~2 s):
    (cluster, worker node)."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    fast_health = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False, "_system_config": fast_health})
    worker = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    try:
        yield cluster, worker
    finally:
        cluster.shutdown()


def _score(db, names, on_done=None, **run_args):
    from qa.metadata import read_metadata
    from qa.runner import BatchRunner, BatchSettings
    from qa.store import Store
    from rubrics import rubric_path
    from scoring import load_rubric

    rubric, text = load_rubric(rubric_path("inbound_support"))
    # One CTranslate2 thread everywhere, so the local and Ray transcripts are computed alike.
    settings = BatchSettings(transcriber=TranscriberOptions(stereo="channels", cpu_threads=1))
    with Store(db) as store:
        runner = BatchRunner(store, rubric, text, settings, read_metadata(EXAMPLES / "calls.csv"))
        return runner.run([EXAMPLES / f"{name}.wav" for name in names], on_done=on_done, **run_args)


def _stored(db) -> dict[str, list]:
    """What a batch stored about its calls, without run ids and times."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            "scorecards": con.execute("SELECT * EXCLUDE (scored_at, run_id) FROM scorecards ORDER BY ALL").fetchall(),
            "criteria": con.execute("SELECT * FROM criterion_results ORDER BY ALL").fetchall(),
            "sections": con.execute("SELECT * FROM section_scores ORDER BY ALL").fetchall(),
            "evidence": con.execute("SELECT * FROM evidence ORDER BY ALL").fetchall(),
            "turns": con.execute("SELECT * FROM turns ORDER BY ALL").fetchall(),
            "failures": con.execute("SELECT call_id, reason FROM failures ORDER BY ALL").fetchall(),
        }
    finally:
        con.close()


@pytest.mark.slow
def test_scorecards_from_a_two_node_cluster_equal_the_local_executors(cluster, tmp_path, monkeypatch):
    result = _score(tmp_path / "ray.duckdb", CALLS, executor="ray",
                    executor_options={"address": cluster[0].address})
    assert {o.call_id: o.status for o in result.outcomes} == dict.fromkeys(CALLS, "scored")
    # Ray gives a one-CPU actor OMP_NUM_THREADS=1; the local workers get the same, since numpy's
    # BLAS threads change the last digits of word timestamps.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    local = _score(tmp_path / "local.duckdb", CALLS, workers=2)
    assert {o.call_id: o.status for o in local.outcomes} == dict.fromkeys(CALLS, "scored")
    on_ray, here = _stored(tmp_path / "ray.duckdb"), _stored(tmp_path / "local.duckdb")
    assert len(on_ray["scorecards"]) == len(CALLS) and on_ray["failures"] == []
    assert on_ray == here


@pytest.mark.slow
def test_a_node_killed_mid_batch_loses_no_call_and_a_rerun_stores_each_once(cluster, tmp_path, monkeypatch):
    from qa import ray_executor

    ray_cluster, worker = cluster
    if worker not in ray_cluster.worker_nodes:
        pytest.skip("the worker node was already removed")
    handed_on = []
    died_on = ray_executor._Dispatcher._died_on

    def spy(self, index):
        handed_on.append(self.jobs[index].call_id)
        return died_on(self, index)

    monkeypatch.setattr(ray_executor._Dispatcher, "_died_on", spy)

    def kill_the_worker_node(outcome):
        if worker in ray_cluster.worker_nodes:
            ray_cluster.remove_node(worker, allow_graceful=False)

    names = CALLS + MORE_CALLS
    db = tmp_path / "qa.duckdb"
    first = _score(db, names, on_done=kill_the_worker_node, executor="ray",
                   executor_options={"address": ray_cluster.address})
    assert worker not in ray_cluster.worker_nodes
    assert handed_on, "the killed node's actor held no file: nothing was handed on"
    assert {o.call_id for o in first.outcomes} == set(names)
    again = _score(db, names, executor="ray", executor_options={"address": ray_cluster.address})
    assert {o.call_id: o.status for o in again.outcomes if o.status != "failed"} == \
        {o.call_id: "skipped" for o in first.outcomes if o.status == "scored"}
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.execute("SELECT call_id, count(*) FROM scorecards GROUP BY call_id").fetchall()
        failures = con.execute("SELECT call_id FROM failures").fetchall()
    finally:
        con.close()
    assert dict(stored) == dict.fromkeys(names, 1)  # every call, once
    assert failures == []  # a node lost once fails no file
