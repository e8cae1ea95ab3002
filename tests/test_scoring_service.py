"""The one path from a transcript to a stored call (`qa.scoring_service.CallScoring`), used by
`qa score`, `qa import` and `qa rescore`: imported speakers without roles get them decided like a
mono call's, a call that cannot be scored is one failure line and the batch goes on, a database
that cannot be written stops it, and rescoring keeps stored roles and writes in chunks."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from qa.importer import import_transcripts
from qa.metadata import read_metadata
from qa.rescore import rescore
from qa.runner import BatchRunner, BatchSettings
from qa.scoring_service import CallScoring
from qa.store import CallInfo, FetchedCalls, Store, StoreError
from qa_types import CallRecord, Role, Transcript, Turn
from rubrics import rubric_path
from scoring import RubricScorer, load_rubric, parse_rubric
from tests.builders import transcript
from tests.test_import_rescore import VTT
from tests.test_scoring_engine import GOOD_CALL
from transcribe.importers import read_transcripts

# The VTT call of tests.test_import_rescore with its speakers named only "A" and "B".
VTT_UNLABELLED = VTT.replace("<v Agent>", "<v A>").replace("<v Customer>", "<v B>").replace("Agent: ", "A: ")

# A JSON call whose customer speaks first: only the rubric's agent phrases can tell the agent.
LABELLED_TURNS = [
    {"role": "customer", "speaker": "B", "start": 0.0, "end": 1.0, "text": "Hello?"},
    {"role": "agent", "speaker": "A", "start": 1.5, "end": 4.5, "text": "Thank you for calling, how can I help?"},
    {"role": "customer", "speaker": "B", "start": 5.0, "end": 8.0, "text": "This is ridiculous, my card is blocked."},
    {"role": "agent", "speaker": "A", "start": 8.5, "end": 11.0, "text": "I'm sorry, let me unblock it."},
]


def _json_call(call_id: str, labelled: bool) -> dict:
    turns = LABELLED_TURNS if labelled else [{k: v for k, v in t.items() if k != "role"} for t in LABELLED_TURNS]
    return {"call_id": call_id, "language": "en", "turns": turns}


def _stored(store: Store, call_id: str) -> dict:
    call = store.query("SELECT agent_speaker, role_method FROM calls WHERE call_id = ?", [call_id])[0]
    call["roles"] = [r["role"] for r in store.query(
        "SELECT role FROM turns WHERE call_id = ? ORDER BY turn_index", [call_id])]
    call["score"] = store.query("SELECT score FROM scorecards WHERE call_id = ?", [call_id])[0]["score"]
    call["outcomes"] = dict((r["criterion_id"], r["outcome"]) for r in store.query(
        "SELECT criterion_id, outcome FROM criterion_results WHERE call_id = ?", [call_id]))
    return call


@pytest.mark.parametrize("fmt", ["json", "vtt"])
def test_imported_speakers_without_roles_get_them_decided_and_score_like_the_labelled_call(
        tmp_path, inbound_rubric, fmt):
    if fmt == "json":
        (tmp_path / "labelled.json").write_text(json.dumps(_json_call("labelled", True)))
        (tmp_path / "unlabelled.json").write_text(json.dumps(_json_call("unlabelled", False)))
        files = [tmp_path / "labelled.json", tmp_path / "unlabelled.json"]
    else:
        (tmp_path / "labelled.vtt").write_text(VTT)
        (tmp_path / "unlabelled.vtt").write_text(VTT_UNLABELLED)
        files = [tmp_path / "labelled.vtt", tmp_path / "unlabelled.vtt"]
    with Store(tmp_path / "qa.duckdb") as store:
        outcomes = import_transcripts(store, inbound_rubric, "yaml", files, language="en")
        labelled, unlabelled = _stored(store, "labelled"), _stored(store, "unlabelled")
    assert [o.status for o in outcomes] == ["scored", "scored"]
    assert (unlabelled["agent_speaker"], unlabelled["role_method"]) == ("A", "phrases")
    assert labelled["role_method"] == "labels"
    assert unlabelled["roles"] == labelled["roles"] and set(unlabelled["roles"]) == {"agent", "customer"}
    assert unlabelled["score"] == labelled["score"]
    assert unlabelled["outcomes"] == labelled["outcomes"]


def test_an_imported_call_without_agent_phrases_takes_the_first_speaker(tmp_path, inbound_rubric):
    call = {"call_id": "plain", "language": "en", "turns": [
        {"speaker": "A", "start": 0.0, "end": 1.0, "text": "Okay."},
        {"speaker": "B", "start": 1.5, "end": 2.5, "text": "Fine."}]}
    (tmp_path / "plain.json").write_text(json.dumps(call))
    with Store(tmp_path / "qa.duckdb") as store:
        import_transcripts(store, inbound_rubric, "yaml", [tmp_path / "plain.json"])
        stored = _stored(store, "plain")
    assert (stored["agent_speaker"], stored["role_method"], stored["roles"]) == ("A", "first speaker",
                                                                                ["agent", "customer"])


def test_score_redacts_decides_roles_scores_and_stores_one_call(tmp_path, inbound_rubric):
    mono = Transcript(turns=[Turn("S1", Role.UNKNOWN, 0.0, 1.0, "Hello?"),
                             Turn("S2", Role.UNKNOWN, 1.5, 5.0, "Thank you for calling, how can I help?"),
                             Turn("S1", Role.UNKNOWN, 5.5, 9.0, "My card 4539 1488 0343 6467 is blocked.")],
                      language="en", duration=10.0)
    record = CallRecord(call_id="c1", file="c1.wav", content_hash="h1", agent="alice", team="t1")
    with Store(tmp_path / "qa.duckdb") as store:
        outcome = CallScoring(store, inbound_rubric, "yaml").score(record, mono, run_id="r1")
        call = store.query("SELECT agent, team, agent_speaker, role_method, redactions FROM calls")[0]
        texts = [r["text"] for r in store.query("SELECT text FROM turns ORDER BY turn_index")]
        cards = store.query("SELECT call_id, run_id, score FROM scorecards")
    assert outcome.status == "scored" and outcome.call_id == "c1" and outcome.agent == "alice"
    assert (call["agent"], call["team"], call["agent_speaker"], call["role_method"]) == ("alice", "t1", "S2", "phrases")
    assert json.loads(call["redactions"]) == {"CARD": 1} and "[CARD]" in texts[2]
    assert cards == [{"call_id": "c1", "run_id": "r1", "score": outcome.scorecard.score}]


def test_a_call_that_cannot_be_scored_is_one_failure_line_and_the_next_is_scored(tmp_path, inbound_rubric,
                                                                                 monkeypatch):
    t = transcript(GOOD_CALL)
    with Store(tmp_path / "qa.duckdb") as store:
        scoring = CallScoring(store, inbound_rubric, "yaml")
        real = scoring.scorer.context

        def context(tr, *args):
            if tr.duration == 999.0:
                raise ValueError("a check broke\non two lines")
            return real(tr, *args)

        monkeypatch.setattr(scoring.scorer, "context", context)
        bad = scoring.score(CallRecord(call_id="bad", file="bad.wav", content_hash="h1", agent="bob"),
                            replace(t, duration=999.0), run_id="r1")
        good = scoring.score(CallRecord(call_id="good", file="good.wav", content_hash="h2"), t, run_id="r1")
        failures = store.query("SELECT file, call_id, agent, reason, run_id FROM failures")
        stored = [r["call_id"] for r in store.query("SELECT call_id FROM calls")]
    assert (bad.status, good.status) == ("failed", "scored")
    assert bad.reason == "bad.wav: call bad: could not be scored (ValueError: a check broke on two lines)"
    assert failures == [{"file": "bad.wav", "call_id": "bad", "agent": "bob", "reason": bad.reason, "run_id": "r1"}]
    assert stored == ["good"]


def test_a_record_without_its_content_hash_is_a_failure_not_a_stored_call(tmp_path, inbound_rubric):
    with Store(tmp_path / "qa.duckdb") as store:
        outcome = CallScoring(store, inbound_rubric).score(CallRecord(call_id="c1", file="c1.wav"),
                                                           transcript(GOOD_CALL))
        assert store.query("SELECT count(*) AS n FROM calls") == [{"n": 0}]
    assert outcome.status == "failed" and "without content_hash" in outcome.reason


def test_a_database_that_cannot_be_written_stops_the_batch(tmp_path, inbound_rubric, monkeypatch):
    with Store(tmp_path / "qa.duckdb") as store:
        scoring = CallScoring(store, inbound_rubric, "yaml")

        def full(*args, **kwargs):
            raise StoreError(f"{store.path}: cannot write to the database: no space left on device")

        monkeypatch.setattr(store, "save_call", full)
        with pytest.raises(StoreError, match="no space left"):
            scoring.score(CallRecord(call_id="c1", file="c1.wav", content_hash="h1"), transcript(GOOD_CALL))
        assert store.query("SELECT count(*) AS n FROM failures") == [{"n": 0}]  # no call's fault


def test_the_runner_records_a_scoring_fault_as_that_files_failure(tmp_path, inbound_rubric, monkeypatch):
    files = []
    for name in ("a", "b"):
        (tmp_path / f"{name}.wav").write_bytes(f"not decoded in this test {name}".encode())
        files.append(tmp_path / f"{name}.wav")
    (tmp_path / "calls.csv").write_text("file,agent,team,date\na.wav,alice,t1,2026-11-02\nb.wav,bob,t2,2026-11-03\n")
    monkeypatch.setattr(BatchRunner, "check_model", lambda self: "model")
    monkeypatch.setattr(BatchRunner, "_transcribe_here", lambda self, job: transcript(GOOD_CALL))
    with Store(tmp_path / "qa.duckdb") as store:
        runner = BatchRunner(store, inbound_rubric, "yaml", BatchSettings(), read_metadata(tmp_path / "calls.csv"))
        real = runner.scoring.scorer.context
        calls = iter(["a", "b"])

        def context(tr, *args):
            if next(calls) == "b":
                raise KeyError("no such metric")
            return real(tr, *args)

        monkeypatch.setattr(runner.scoring.scorer, "context", context)
        result = runner.run(files)
        stored = store.query("SELECT call_id, agent, team, call_date, content_hash FROM calls")
        failures = store.query("SELECT call_id, agent, reason FROM failures")
        runs = store.query("SELECT status, scored, failed FROM runs")
    assert [(o.call_id, o.status) for o in result.outcomes] == [("a", "scored"), ("b", "failed")]
    assert [(c["call_id"], c["agent"], c["team"], str(c["call_date"])) for c in stored] == [
        ("a", "alice", "t1", "2026-11-02")]
    assert len(stored[0]["content_hash"]) == 64
    assert failures == [{"call_id": "b", "agent": "bob",
                         "reason": f"{files[1]}: call b: could not be scored (KeyError: 'no such metric')"}]
    assert runs == [{"status": "finished", "scored": 1, "failed": 1}]


def test_one_record_type_for_metadata_imports_and_the_store(tmp_path, inbound_rubric):
    (tmp_path / "calls.csv").write_text("file,call_id,agent\na.wav,c1,alice\n")
    (tmp_path / "call.vtt").write_text(VTT)
    row = read_metadata(tmp_path / "calls.csv").rows[0]
    imported = read_transcripts(tmp_path / "call.vtt", language="en")[0]
    with Store(tmp_path / "qa.duckdb") as store:
        import_transcripts(store, inbound_rubric, "yaml", [tmp_path / "call.vtt"], language="en")
        stored, _ = store.load_transcripts()[0]
    assert CallInfo is CallRecord
    assert all(type(r) is CallRecord for r in (row, imported.record, stored))
    assert (row.call_id, row.agent, row.line) == ("c1", "alice", 2)
    assert (imported.record.call_id, imported.default_id, stored.call_id) == (None, "call", "call")


# -- rescoring ---------------------------------------------------------------------------------

def _legacy_import(store: Store, inbound_rubric) -> Transcript:
    """A call stored as imports were before roles were decided for them: speakers A and B with
    unknown roles and no role decision."""
    t = Transcript(turns=[Turn(t["speaker"], Role.UNKNOWN, t["start"], t["end"], t["text"]) for t in LABELLED_TURNS],
                   language="en", duration=12.0, channels=0, model="imported:json")
    store.save_call(CallRecord(call_id="legacy", file="legacy.json", content_hash="h0"), t,
                    RubricScorer(inbound_rubric).score(t))
    return t


def test_rescore_scores_stored_transcripts_as_stored(tmp_path, inbound_rubric):
    """Rescoring neither redacts again nor decides roles again: a call stored without roles
    keeps them unknown (every turn counts for both parties, as before), and its new scorecard
    is what the rubric gives the stored transcript."""
    _, text = load_rubric(rubric_path("inbound_support"))
    stricter_text = text.replace("pass_mark: 80", "pass_mark: 95")
    stricter = parse_rubric(stricter_text)
    with Store(tmp_path / "qa.duckdb") as store:
        t = _legacy_import(store, inbound_rubric)
        result = rescore(store, stricter, stricter_text)
        roles = {r["role"] for r in store.query("SELECT role FROM turns")}
        method = store.query("SELECT role_method FROM calls")[0]["role_method"]
        new = store.query("SELECT score FROM scorecards WHERE rubric_hash = ?", [stricter.content_hash])
    assert (result.scored, result.skipped, result.failed) == (1, 0, 0)
    assert roles == {"unknown"} and method is None
    assert new == [{"score": RubricScorer(stricter).score(t).score}]


def test_rescore_writes_scorecards_in_chunks_and_records_a_call_it_cannot_score(tmp_path, inbound_rubric,
                                                                               monkeypatch):
    t = transcript(GOOD_CALL)
    with Store(tmp_path / "qa.duckdb") as store:
        for n in range(5):
            store.save_call(CallRecord(call_id=f"c{n}", file=f"c{n}.wav", content_hash=f"h{n}"), t, None)
        writes = []
        real_save = store.save_scorecards
        monkeypatch.setattr(store, "save_scorecards", lambda cards, run_id=None, **kwargs: (
            writes.append([c for c, _ in cards]), real_save(cards, run_id, **kwargs)))
        real_context = RubricScorer.context

        def context(self, tr, *args, **kwargs):
            if any(tr is call.transcript for call in broken):
                raise ZeroDivisionError("division by zero")
            return real_context(self, tr, *args, **kwargs)

        real_decode = FetchedCalls.decode
        broken = []

        def decode(self):
            calls = real_decode(self)
            broken.extend(c for c in calls if c.record.call_id == "c2")
            return calls

        monkeypatch.setattr(FetchedCalls, "decode", decode)
        monkeypatch.setattr(RubricScorer, "context", context)
        progress = []
        result = rescore(store, inbound_rubric, "yaml", chunk=2, page=2,
                         on_progress=lambda d, n: progress.append((d, n)))
        failures = store.query("SELECT call_id, reason, run_id FROM failures")
    assert (result.scored, result.failed) == (4, 1)
    assert writes == [["c0", "c1"], ["c3"], ["c4"]]
    assert progress == [(2, 5), (4, 5), (5, 5)]
    assert failures == [{"call_id": "c2", "run_id": "rescore",
                         "reason": "c2.wav: call c2: could not be scored (ZeroDivisionError: division by zero)"}]


def test_the_call_page_says_how_an_imported_calls_roles_were_decided(tmp_path, inbound_rubric):
    """An imported call whose roles were decided is not called a diarized mono call on its page;
    one whose roles came labelled shows no role decision at all."""
    from reports.data import page_slug
    from reports.render import render_reports

    for name, labelled in (("labelled", True), ("unlabelled", False)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_json_call(name, labelled)))
    db = tmp_path / "qa.duckdb"
    with Store(db) as store:
        import_transcripts(store, inbound_rubric, "yaml", [tmp_path / "labelled.json", tmp_path / "unlabelled.json"])
    render_reports(db, tmp_path / "site")
    decided = (tmp_path / "site" / "calls" / f"{page_slug('unlabelled')}.html").read_text()
    labelled = (tmp_path / "site" / "calls" / f"{page_slug('labelled')}.html").read_text()
    assert "Imported transcript: 2 speaker(s) without roles; agent = A by phrases" in decided
    assert "diarization" not in decided
    assert 'id="role-decision"' not in labelled
