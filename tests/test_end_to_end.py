"""The whole path on the shipped example calls, through the real CLI:
audio -> faster-whisper -> rubric -> DuckDB -> HTML."""
from __future__ import annotations

import duckdb
import numpy as np
import pytest

from tests.conftest import DEMO_CALLS as CALLS
from tests.conftest import EXAMPLES, qa
from transcribe.audio import SAMPLE_RATE, load_audio

pytestmark = pytest.mark.slow


@pytest.fixture
def con(scored):
    connection = duckdb.connect(str(scored[1]), read_only=True)
    yield connection
    connection.close()


def outcome(con, call_id: str, criterion: str) -> str:
    return con.execute("SELECT outcome FROM criterion_results WHERE call_id = ? AND criterion_id = ?",
                       [call_id, criterion]).fetchone()[0]


def evidence(con, call_id: str, criterion: str) -> list[tuple]:
    return con.execute("SELECT quote, role, start_s, end_s FROM evidence WHERE call_id = ? AND criterion_id = ? "
                       "AND kind = 'quote' ORDER BY evidence_index", [call_id, criterion]).fetchall()


def test_every_good_file_scored_and_bad_ones_recorded(scored, con):
    run = scored[2]
    stored = {r[0] for r in con.execute("SELECT call_id FROM scorecards").fetchall()}
    assert stored == set(CALLS)
    failures = dict(con.execute("SELECT call_id, reason FROM failures").fetchall())
    assert set(failures) == {"corrupt", "empty"}
    assert "corrupt.wav" in failures["corrupt"] and "unreadable" in failures["corrupt"]
    assert "empty.wav: empty file" in failures["empty"]
    assert "Traceback" not in run.stdout + run.stderr


def test_named_outcomes(con):
    assert outcome(con, "en_01_alice_good", "greeting") == "pass"
    assert outcome(con, "en_01_alice_good", "hold_permission") == "na"
    assert outcome(con, "en_01_alice_good", "thanks_for_holding") == "na"
    assert outcome(con, "en_01_alice_good", "empathy") == "na"
    assert outcome(con, "en_02_alice_nogreeting", "greeting") == "fail"
    assert outcome(con, "en_05_alice_hold_ok", "hold_permission") == "pass"
    assert outcome(con, "en_05_alice_hold_ok", "thanks_for_holding") == "pass"
    assert outcome(con, "ru_01_olga_empathy", "empathy") == "pass"
    assert outcome(con, "ru_01_olga_empathy", "greeting") == "pass"
    assert outcome(con, "tr_01_olga_hold", "hold_permission") == "pass"
    score, auto_failed = con.execute("SELECT score, auto_failed FROM scorecards WHERE call_id = ?",
                                     ["en_07_bob_abusive"]).fetchone()
    assert auto_failed and score == 0
    assert outcome(con, "en_07_bob_abusive", "no_abuse") == "fail"


def _rms(samples: np.ndarray, start: float, end: float) -> float:
    chunk = samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(chunk ** 2))) if chunk.size else 0.0


def test_evidence_timestamps_point_at_the_agents_speech(con):
    """The 'thank you for holding' evidence starts where the agent's channel comes back after the hold."""
    quote, role, start, end = evidence(con, "en_05_alice_hold_ok", "thanks_for_holding")[0]
    assert role == "agent" and "holding" in quote.lower() and end > start
    audio = load_audio(EXAMPLES / "en_05_alice_hold_ok.wav")
    agent = audio.channels[0]
    speech = _rms(agent, start, end)
    assert speech > 0.01                                # the agent speaks during the evidence
    assert _rms(agent, start - 8.0, start - 1.0) < speech / 20  # ... after a stretch of hold silence


def test_reports_written(scored):
    work, _, _ = scored
    site = work / "site"
    assert (site / "index.html").is_file()
    assert {p.stem for p in (site / "calls").glob("*.html")} == set(CALLS)
    assert {p.stem for p in (site / "agents").glob("*.html")} == {"alice", "bob", "olga"}
    page = (site / "calls" / "en_07_bob_abusive.html").read_text()
    assert "AUTO-FAIL" in page


def test_scoring_again_replaces_without_duplicates(scored):
    work = scored[0]
    with duckdb.connect(str(scored[1]), read_only=True) as con:
        before = con.execute("SELECT count(*) FROM criterion_results").fetchone()[0]
    run = qa("score", str(EXAMPLES / "en_01_alice_good.wav"), "--metadata", str(EXAMPLES / "calls.csv"),
             "--db", str(work / "qa.duckdb"), "--force", cwd=work)
    assert run.returncode == 0, run.stderr
    again = duckdb.connect(str(work / "qa.duckdb"), read_only=True)
    try:
        assert again.execute("SELECT count(*) FROM criterion_results").fetchone()[0] == before
        assert again.execute("SELECT count(*) FROM calls WHERE call_id = 'en_01_alice_good'").fetchone()[0] == 1
    finally:
        again.close()
