"""`qa import` checks every call before using it: a malformed call (our JSON, WebVTT, Harper Valley)
is recorded as failed with one line naming the file and the fault, and the other files are
imported; two calls that would share one call id are refused before anything is written."""
from __future__ import annotations

import json

import duckdb
import pytest

from qa.importer import ImportRefused, import_transcripts
from qa.store import Store
from tests.test_cli import _one_line_error, qa
from tests.test_import_rescore import VTT

TURN = {"role": "agent", "start": 0.5, "end": 3.0, "text": "Thank you for calling, how can I help?"}


def _call(**fields) -> dict:
    call = {"call_id": "bad", "language": "en", "turns": [dict(TURN)]}
    call.update(fields)
    return call


def _turn(**fields) -> list[dict]:
    return [dict(TURN, **fields)]


# (file text, what the failure line says after "bad.json: ")
JSON_FAULTS = {
    "turn not an object": (json.dumps(_call(turns=["hello"])), "turns[0]: Input should be an object (got 'hello')"),
    "duration as text": (json.dumps(_call(duration="long")), "duration: Input should be a valid number"),
    "deep nesting": ('{"turns": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    "turn over 1M characters": (json.dumps(_call(turns=_turn(text="x" * 1_000_001))),
                                "turns[0].text: String should have at most 100000 characters"),
    "agent not a string": (json.dumps(_call(agent={"id": 7})), "agent: Input should be a valid string (got an object)"),
    "NaN": (json.dumps(_call(turns=_turn(start=float("nan")))), "turns[0].start: Input should be a finite number"),
    "Infinity": (json.dumps(_call(turns=_turn(end=float("inf")))), "turns[0].end: Input should be a finite number"),
    "negative time": (json.dumps(_call(turns=_turn(start=-10.0))),
                      "turns[0].start: Input should be greater than or equal to 0 (got -10)"),
    "negative hold": (json.dumps(_call(holds=[[-10, 5]])),
                      "holds[0].start: Input should be greater than or equal to 0 (got -10)"),
    "end before start": (json.dumps(_call(turns=_turn(start=5.0, end=2.0))),
                         "turns[0]: the turn ends at 2 s, before it starts (5 s)"),
    "text not a string": (json.dumps(_call(turns=_turn(text=42))), "turns[0].text: Input should be a valid string (got 42)"),
    "talk beyond the duration": (json.dumps(_call(duration=9, turns=_turn(start=0.0, end=42.5))),
                                 "turns[0] ends at 42.5 s, after the call's duration (9 s)"),
    "huge integer": ('{"language": "en", "duration": 1' + "0" * 5000 + ', "turns": []}', "not a readable JSON"),
}


def _import_bad_then_good(tmp_path, rubric, name: str, text: str):
    """Import a bad file `name` holding `text`, then a good WebVTT call: (bad path, outcomes, stored
    call ids, failure rows)."""
    bad = tmp_path / name
    bad.write_text(text)
    (tmp_path / "call.vtt").write_text(VTT)
    with Store(tmp_path / "qa.duckdb") as store:
        outcomes = import_transcripts(store, rubric, "yaml", [bad, tmp_path / "call.vtt"], language="en")
        stored = [r["call_id"] for r in store.query("SELECT call_id FROM calls")]
        failures = store.query("SELECT file, reason FROM failures")
    return bad, outcomes, stored, failures


@pytest.mark.parametrize("fault", list(JSON_FAULTS))
def test_a_malformed_json_call_is_recorded_and_the_next_files_imported(tmp_path, inbound_rubric, fault):
    text, expected = JSON_FAULTS[fault]
    bad, outcomes, stored, failures = _import_bad_then_good(tmp_path, inbound_rubric, "bad.json", text)
    assert [o.status for o in outcomes] == ["failed", "scored"]
    assert stored == ["call"]
    assert len(failures) == 1 and failures[0]["file"] == str(bad)
    reason = failures[0]["reason"]
    assert reason.startswith(f"{bad}: ") and expected in reason and "\n" not in reason, reason


def test_a_list_file_keeps_its_good_calls(tmp_path, inbound_rubric):
    path = tmp_path / "calls.json"
    path.write_text(json.dumps([_call(call_id="ok1"), _call(call_id="neg", turns=_turn(start=-1.0)),
                                _call(call_id="ok2")]))
    with Store(tmp_path / "qa.duckdb") as store:
        outcomes = import_transcripts(store, inbound_rubric, "yaml", [path])
        stored = sorted(r["call_id"] for r in store.query("SELECT call_id FROM calls"))
        failures = store.query("SELECT call_id, reason FROM failures")
    assert [o.status for o in outcomes] == ["scored", "failed", "scored"]
    assert stored == ["ok1", "ok2"]
    assert failures == [{"call_id": "neg", "reason": f"{path}[1]: turns[0].start: Input should be greater than or "
                                                      "equal to 0 (got -1)"}]


VTT_FAULTS = {
    "cue ends before it starts": ("WEBVTT\n\n00:00:05.000 --> 00:00:03.000\n<v Agent>Hello\n",
                                  "cue 1 (00:00:05.000 --> 00:00:03.000): the turn ends at 3 s, before it starts (5 s)"),
    "cue over the size limit": ("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\n<v Agent>" + "x" * 100_001 + "\n",
                                "cue 1 (00:00:00.000 --> 00:00:03.000): text: String should have at most 100000"),
}


@pytest.mark.parametrize("fault", list(VTT_FAULTS))
def test_a_malformed_webvtt_call_is_recorded(tmp_path, inbound_rubric, fault):
    text, expected = VTT_FAULTS[fault]
    bad, outcomes, _, failures = _import_bad_then_good(tmp_path, inbound_rubric, "bad.vtt", text)
    reasons = [r["reason"] for r in failures]
    assert [o.status for o in outcomes] == ["failed", "scored"]
    assert reasons == [f"{bad}: {expected}"] or (len(reasons) == 1 and reasons[0].startswith(f"{bad}: {expected}"))


def _harper_valley(**segment) -> dict:
    seg = {"speaker_role": "agent", "offset_ms": 500, "duration_ms": 2500,
           "transcript": "hello this is harper valley national bank"}
    seg.update(segment)
    return {"sid": "hv1", "metadata": {"agent": {"agent_name": "Elizabeth"}}, "segments": [seg]}


HV_FAULTS = {
    "offset missing": ({"offset_ms": None}, "segments[0].offset_ms: Input should be a valid number"),
    "negative duration": ({"duration_ms": -100}, "segments[0].duration_ms: Input should be greater than or equal to 0"),
    "offset as words": ({"offset_ms": "soon"}, "segments[0].offset_ms: Input should be a valid number"),
    "transcript not text": ({"transcript": ["hello"]}, "segments[0].transcript: Input should be a valid string"),
}


@pytest.mark.parametrize("fault", list(HV_FAULTS))
def test_a_malformed_harper_valley_call_is_recorded(tmp_path, inbound_rubric, fault):
    change, expected = HV_FAULTS[fault]
    data = _harper_valley(**change)
    if change.get("offset_ms", 0) is None:
        del data["segments"][0]["offset_ms"]
        expected = "segments[0].offset_ms: Field required"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(dict(_harper_valley(), sid="hv2")))
    with Store(tmp_path / "qa.duckdb") as store:
        outcomes = import_transcripts(store, inbound_rubric, "yaml", [bad, good])
        reasons = [r["reason"] for r in store.query("SELECT reason FROM failures")]
    assert [(o.call_id, o.status) for o in outcomes] == [("hv1", "failed"), ("hv2", "scored")]
    assert len(reasons) == 1 and reasons[0].startswith(f"{bad}: {expected}"), reasons


def test_harper_valley_agent_name_must_be_text(tmp_path, inbound_rubric):
    data = _harper_valley()
    data["metadata"]["agent"]["agent_name"] = 46
    (tmp_path / "hv.json").write_text(json.dumps(data))
    with Store(tmp_path / "qa.duckdb") as store:
        outcomes = import_transcripts(store, inbound_rubric, "yaml", [tmp_path / "hv.json"])
    assert outcomes[0].status == "failed"
    assert outcomes[0].reason == f"{tmp_path / 'hv.json'}: metadata.agent.agent_name: Input should be a valid string (got 46)"


def test_the_cli_names_the_bad_file_and_imports_the_rest(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps(_call(turns=["not a turn"])))
    (tmp_path / "call.vtt").write_text(VTT)
    run = qa("import", "bad.json", "call.vtt", "--language", "en", "--db", "qa.duckdb", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT call_id FROM calls").fetchall() == [("call",)]
        assert con.execute("SELECT reason FROM failures").fetchall() == [
            ("bad.json: turns[0]: Input should be an object (got 'not a turn')",)]
    finally:
        con.close()


# -- duplicate call ids ------------------------------------------------------------------------

def test_two_files_with_one_call_id_are_refused_before_anything_is_written(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_call(call_id="c1")))
    (tmp_path / "b.json").write_text(json.dumps(_call(call_id="c1")))
    line = _one_line_error(qa("import", "a.json", "b.json", "--db", "qa.duckdb", cwd=tmp_path))
    assert "a.json and b.json both give call id 'c1'" in line
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM calls").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM failures").fetchone() == (0,)
    finally:
        con.close()


def test_two_calls_of_one_list_with_one_call_id_are_refused(tmp_path, inbound_rubric):
    path = tmp_path / "calls.json"
    path.write_text(json.dumps([_call(call_id="c1"), _call(call_id="c1")]))
    with Store(tmp_path / "qa.duckdb") as store:
        with pytest.raises(ImportRefused, match=r"calls.json\[0\] and .*calls.json\[1\] both give call id 'c1'"):
            import_transcripts(store, inbound_rubric, "yaml", [path])
        assert store.query("SELECT count(*) AS n FROM calls") == [{"n": 0}]


def test_same_transcript_name_in_two_folders_is_two_calls(tmp_path, inbound_rubric):
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "call.vtt").write_text(VTT)
    with Store(tmp_path / "qa.duckdb") as store:
        import_transcripts(store, inbound_rubric, "yaml", [tmp_path / "day1" / "call.vtt",
                                                           tmp_path / "day2" / "call.vtt"], language="en")
        stored = sorted(r["call_id"] for r in store.query("SELECT call_id FROM calls"))
    assert stored == ["day1/call", "day2/call"]
