"""Existing transcripts (our JSON, WebVTT, Harper Valley) are imported and scored; stored calls
are re-scored with a new rubric version without audio."""
from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from benchmarks.harper_valley_agreement import agreement
from qa.rescore import rescore
from qa.store import Store
from rubrics import rubric_path
from scoring import load_rubric, parse_rubric
from tests.conftest import EVAL
from transcribe.importers import TranscriptImportError, read_transcripts

VTT = """WEBVTT

00:00:00.500 --> 00:00:03.250
<v Agent>Thank you for calling, how can I help?

00:00:03.500 --> 00:00:06.000
<v Customer>This is ridiculous, my card is blocked.

00:00:06.500 --> 00:00:08.000
Agent: I'm sorry, let me unblock it.
"""


def qa(*args, cwd):
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_webvtt_speakers_become_roles(tmp_path):
    path = tmp_path / "call.vtt"
    path.write_text(VTT)
    call = read_transcripts(path, language="en")[0]
    assert [(t.role.value, t.start, t.end) for t in call.transcript.turns] == [
        ("agent", 0.5, 3.25), ("customer", 3.5, 6.0), ("agent", 6.5, 8.0)]
    assert call.transcript.turns[2].text == "I'm sorry, let me unblock it."


def test_json_format_and_its_errors(tmp_path):
    good = {"call_id": "j1", "agent": "alice", "date": "2026-11-02", "language": "ru",
            "turns": [{"role": "agent", "start": 0.5, "end": 3, "text": "Спасибо за звонок, чем могу помочь?"}]}
    (tmp_path / "j1.json").write_text(json.dumps(good, ensure_ascii=False))
    call = read_transcripts(tmp_path / "j1.json")[0]
    assert call.record.call_id == "j1" and call.record.agent == "alice" and call.transcript.language == "ru"
    bad = dict(good, turns=[{"role": "boss", "start": 0, "end": 1, "text": "x"}])
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(TranscriptImportError,
                       match=r"bad.json: turns\[0\].role: Input should be 'agent', 'customer' or 'unknown' \(got 'boss'\)"):
        read_transcripts(tmp_path / "bad.json")


def test_import_cli_scores_and_records_bad_files(tmp_path):
    (tmp_path / "call.vtt").write_text(VTT)
    (tmp_path / "broken.json").write_text("{not json")
    run = qa("import", "call.vtt", "broken.json", "--language", "en", "--db", "qa.duckdb", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    outcomes = dict(con.execute("SELECT criterion_id, outcome FROM criterion_results WHERE call_id = 'call'").fetchall())
    assert outcomes["greeting"] == "pass" and outcomes["empathy"] == "pass"
    assert "not a readable JSON transcript" in con.execute("SELECT reason FROM failures").fetchone()[0]
    con.close()


def test_harper_valley_greeting_and_closing_agree_with_dialog_acts():
    folder = EVAL / "harper_valley_text"
    if not folder.is_dir():
        pytest.skip(f"evaluation data not found: {folder}")
    result = agreement(folder)
    assert result["calls"] == 3
    assert result["call_agree"] == {"greeting": 3, "closing": 3}
    assert all(labelled for _, _, labelled, _ in result["rows"])  # every call has both acts


def test_rescore_adds_a_new_version_and_skips_done_calls(tmp_path):
    (tmp_path / "call.vtt").write_text(VTT)
    assert qa("import", "call.vtt", "--language", "en", "--db", "qa.duckdb", cwd=tmp_path).returncode == 0
    rubric, text = load_rubric(rubric_path("inbound_support"))
    stricter_text = text.replace("pass_mark: 80", "pass_mark: 95")
    stricter = parse_rubric(stricter_text)
    with Store(tmp_path / "qa.duckdb") as store:
        first = rescore(store, stricter, stricter_text)
        again = rescore(store, stricter, stricter_text)
        versions = store.query("SELECT rubric_hash, pass_mark FROM scorecards ORDER BY pass_mark")
    assert (first.scored, first.skipped) == (1, 0) and (again.scored, again.skipped) == (0, 1)
    assert [v["rubric_hash"] for v in versions] == [rubric.content_hash, stricter.content_hash]


def test_rescore_cli(tmp_path):
    (tmp_path / "call.vtt").write_text(VTT)
    assert qa("import", "call.vtt", "--language", "en", "--db", "qa.duckdb", cwd=tmp_path).returncode == 0
    run = qa("rescore", "--rubric", "inbound_support", "--db", "qa.duckdb", "--force", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "1 calls scored" in run.stdout


def test_holds_given_in_metadata_count_as_holds(tmp_path):
    call = {"call_id": "h1", "language": "en", "holds": [[10.0, 100.0]], "turns": [
        {"role": "agent", "start": 0.5, "end": 3, "text": "Thank you for calling, how can I help?"},
        {"role": "customer", "start": 3.5, "end": 6, "text": "My card is blocked."},
        {"role": "agent", "start": 6.5, "end": 9.5, "text": "Let me check that."},  # no hold request
        {"role": "customer", "start": 10.0, "end": 99.0, "text": "(music on hold transcribed as speech)"},
        {"role": "agent", "start": 100.5, "end": 103, "text": "Thank you for holding, it is unblocked."},
    ]}
    (tmp_path / "h1.json").write_text(json.dumps(call))
    assert qa("import", "h1.json", "--db", "qa.duckdb", cwd=tmp_path).returncode == 0
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    outcomes = dict(con.execute("SELECT criterion_id, outcome FROM criterion_results").fetchall())
    metrics = json.loads(con.execute("SELECT metrics FROM scorecards").fetchone()[0])
    con.close()
    assert outcomes["hold_permission"] == "fail" and outcomes["thanks_for_holding"] == "pass"
    assert outcomes["hold_length"] == "pass" and metrics["longest_hold_s"] == 90.0
    with Store(tmp_path / "qa.duckdb") as store:  # kept for rescoring
        assert store.load_transcripts()[0][1].holds == [(10.0, 100.0)]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_for_bi_tools(tmp_path, fmt):
    (tmp_path / "call.vtt").write_text(VTT)
    assert qa("import", "call.vtt", "--language", "en", "--db", "qa.duckdb", cwd=tmp_path).returncode == 0
    run = qa("export", "--db", "qa.duckdb", "--format", fmt, "--out", "bi", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    reader = {"csv": "read_csv_auto", "parquet": "read_parquet", "json": "read_json_auto"}[fmt]
    con = duckdb.connect()
    cards = con.execute(f"SELECT call_id, score FROM {reader}(?)", [str(tmp_path / "bi" / f"scorecards.{fmt}")]).fetchall()
    results = con.execute(f"SELECT criterion_id, outcome FROM {reader}(?)",
                          [str(tmp_path / "bi" / f"criterion_results.{fmt}")]).fetchall()
    assert [c[0] for c in cards] == ["call"]
    assert ("greeting", "pass") in results and len(results) == 10
    # the call metrics, one column per registered metric
    (talk, dead_air), = con.execute(f"SELECT metric_talk_s_agent, metric_dead_air_s FROM {reader}(?)",
                                    [str(tmp_path / "bi" / f"scorecards.{fmt}")]).fetchall()
    assert talk > 0 and dead_air == 0
