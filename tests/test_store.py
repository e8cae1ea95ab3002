"""DuckDB store: one transaction per call, re-scoring replaces, nothing duplicated."""
from __future__ import annotations

import pytest

from qa.store import CallInfo, Store, StoreError
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
    info = CallInfo(call_id="c1", file="c1.wav", content_hash="h1", agent="alice")
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
    info = CallInfo(call_id="c1", file="c1.wav", content_hash="h1")
    with Store(tmp_path / "qa.duckdb") as store:
        store.save_call(info, t, card)
        before = store.query("SELECT score FROM scorecards")

        def boom(*args, **kwargs):
            raise RuntimeError("disk full")

        monkeypatch.setattr(store, "_write_scorecards", boom)
        with pytest.raises(RuntimeError):
            store.save_call(CallInfo(call_id="c1", file="c1.wav", content_hash="h2"), t, card)
        assert store.query("SELECT content_hash FROM calls") == [{"content_hash": "h1"}]
        assert store.query("SELECT score FROM scorecards") == before
        assert len(store.query("SELECT * FROM turns")) == len(t.turns)


def test_evidence_rows_keep_times(tmp_path, scored):
    t, card = scored
    with Store(tmp_path / "qa.duckdb") as store:
        store.save_call(CallInfo(call_id="c1", file="c1.wav", content_hash="h1"), t, card)
        rows = store.query("SELECT quote, role, start_s, end_s FROM evidence WHERE criterion_id = ? "
                           "ORDER BY evidence_index", ["greeting"])
    assert rows[0]["quote"] == "Thank you for calling" and rows[0]["role"] == "agent"
    assert rows[0]["start_s"] == pytest.approx(0.5)


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
