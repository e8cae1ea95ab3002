"""Human reviews: an answer replaces the machine's, the final score follows, every review is an
appended audit row, rescoring keeps reviews, bad reviews are refused whole, evaluations import,
calibration reads the store, forget removes reviews, and two processes share the file."""
from __future__ import annotations

import multiprocessing
import time

import pytest

from qa.reviews import ReviewError, ReviewInput, Reviews
from qa.human_evals import parse_human_evals
from qa.rescore import rescore
from qa.scoring_service import CallScoring
from qa.store import CallInfo, Store
from scoring import parse_rubric
from tests.builders import transcript

RUBRIC = """\
id: r
name: review rubric
pass_mark: 80
phrase_sets:
  hello: {en: ["thank you for calling"]}
  bye: {en: ["goodbye"]}
sections:
  - id: s
    criteria:
      - {id: greeting, points: 10, check: {phrases: $hello, speaker: agent}}
      - {id: closing, points: 10, check: {phrases: $bye, speaker: agent}}
"""
GOOD = [("agent", 0, 2, "Thank you for calling."), ("customer", 2.5, 4, "Hi."), ("agent", 5, 6, "Goodbye.")]
NO_BYE = [("agent", 0, 2, "Thank you for calling."), ("customer", 2.5, 4, "Hi."), ("agent", 5, 6, "Bye then.")]


def scored_store(path, calls=(("c1", NO_BYE), ("c2", GOOD)), rubric_text=RUBRIC, **kwargs) -> Store:
    store = Store(path, **kwargs)
    with CallScoring(store, parse_rubric(rubric_text), rubric_text) as scoring:
        for call_id, lines in calls:
            outcome = scoring.score(CallInfo(call_id=call_id, file=f"{call_id}.wav", content_hash=call_id,
                                             agent="ann" if call_id != "c3" else "bob"),
                                    transcript(list(lines)), run_id="t", decide_roles=False)
            assert outcome.status == "scored"
    return store


def test_an_override_makes_the_final_score_and_leaves_an_audit_row(tmp_path):
    with scored_store(tmp_path / "qa.duckdb") as store:
        reviews = Reviews(store)
        version = store.call_rubric_hash("c1")
        [before] = [c for c in store.report_calls(version) if c["call_id"] == "c1"]
        assert (before["score"], before["passed"], before["reviewed"]) == (50.0, False, 0)
        review_id = reviews.record(ReviewInput("c1", "closing", "pass", "maria", "wrong_outcome", "said bye then"))
        [after] = [c for c in store.report_calls(version) if c["call_id"] == "c1"]
        assert (after["score"], after["passed"], after["machine_score"], after["reviewed"]) == (100.0, True, 50.0, 1)
        closing = [r for r in store.criterion_results(version, ["c1"])["c1"] if r["criterion_id"] == "closing"][0]
        assert (closing["outcome"], closing["machine_outcome"], closing["review_id"]) == ("pass", "fail", review_id)
        assert closing["points_awarded"] == 10
        assert {s["section_id"]: s["points_awarded"] for s in store.section_scores(version, ["c1"])["c1"]} == {"s": 20}
        [row] = store.review_history("c1")
        assert {k: row[k] for k in ("reviewer", "machine_outcome", "previous_outcome", "outcome", "reason",
                                    "comment", "source")} == {
            "reviewer": "maria", "machine_outcome": "fail", "previous_outcome": "fail", "outcome": "pass",
            "reason": "wrong_outcome", "comment": "said bye then", "source": "review"}
        assert row["reviewed_at"] is not None


def test_a_second_review_is_appended_and_names_the_answer_it_replaced(tmp_path):
    with scored_store(tmp_path / "qa.duckdb") as store:
        reviews = Reviews(store)
        reviews.record(ReviewInput("c1", "closing", "pass", "maria", "wrong_outcome"))
        reviews.record(ReviewInput("c1", "closing", "na", "omar", "does_not_apply"))
        history = store.review_history("c1")
        assert [(r["reviewer"], r["previous_outcome"], r["outcome"]) for r in history] == [
            ("maria", "fail", "pass"), ("omar", "pass", "na")]
        [call] = [c for c in store.report_calls(store.call_rubric_hash("c1")) if c["call_id"] == "c1"]
        assert call["score"] == 100.0  # closing N/A: greeting 10/10


def test_agreeing_records_the_machine_answer(tmp_path):
    with scored_store(tmp_path / "qa.duckdb") as store:
        Reviews(store).record(ReviewInput("c2", "greeting", None, "maria"))
        [row] = store.review_history("c2")
        assert (row["outcome"], row["reason"]) == ("pass", "agree")
        [call] = [c for c in store.report_calls(store.call_rubric_hash("c2")) if c["call_id"] == "c2"]
        assert (call["score"], call["reviewed"]) == (100.0, 1)


@pytest.mark.parametrize("item, fault", [
    (ReviewInput("nope", "closing", "pass", "maria"), "call 'nope', criterion 'closing': no scored call with this id"),
    (ReviewInput("c1", "nope", "pass", "maria"), "call 'c1', criterion 'nope': no such criterion in rubric version"),
    (ReviewInput("c1", "closing", "maybe", "maria"), "outcome must be one of pass, fail, na, not 'maybe'"),
    (ReviewInput("c1", "closing", "pass", " "), "a review needs the reviewer's name"),
    (ReviewInput("c1", "closing", "pass", "maria", "because"), "unknown reason 'because'"),
])
def test_a_bad_review_is_refused_with_one_line_and_nothing_is_stored(tmp_path, item, fault):
    with scored_store(tmp_path / "qa.duckdb") as store:
        good = ReviewInput("c2", "greeting", None, "maria")
        with pytest.raises(ReviewError, match=fault.replace("(", r"\(").replace(")", r"\)")):
            Reviews(store).record_many([good, item])
        assert store.review_history("c2") == [] and store.query("SELECT * FROM final_scorecards") == []


def test_rescoring_keeps_the_final_answers_and_a_new_version_asks_for_a_new_look(tmp_path):
    with scored_store(tmp_path / "qa.duckdb") as store:
        reviews = Reviews(store)
        old = store.call_rubric_hash("c1")
        reviews.record(ReviewInput("c1", "closing", "pass", "maria", "wrong_outcome"))
        rescore(store, parse_rubric(RUBRIC), RUBRIC, force=True)  # same version again
        [call] = [c for c in store.report_calls(old) if c["call_id"] == "c1"]
        assert (call["score"], call["reviewed"]) == (100.0, 1)
        newer_text = RUBRIC.replace("pass_mark: 80", "pass_mark: 90")
        rescore(store, parse_rubric(newer_text), newer_text)
        new = parse_rubric(newer_text).content_hash
        [call] = [c for c in store.report_calls(new) if c["call_id"] == "c1"]
        assert (call["score"], call["reviewed"]) == (50.0, 0)  # the machine's answers until reviewed again
        look = reviews.needs_new_look("c1", new)
        assert list(look) == ["closing"] and look["closing"]["outcome"] == "pass"
        assert len(store.review_history("c1")) == 1  # the old version's review is kept


def test_existing_evaluations_are_imported_and_unknown_calls_skipped(tmp_path):
    csv = ("call_id,criterion,outcome,evaluator,date,comment\n"
           "c1,closing,yes,Lee,2026-11-02,fine\n"
           "c2,greeting,no,Lee,2026-11-02,\n"
           "c9,greeting,no,Lee,2026-11-02,\n")
    with scored_store(tmp_path / "qa.duckdb") as store:
        recorded, skipped = Reviews(store).import_evaluations(parse_human_evals(csv, "evals.csv"))
        assert recorded == 2 and skipped == ["line 4: call 'c9' is not scored in this database"]
        rows = store.review_history("c1") + store.review_history("c2")
        assert [(r["call_id"], r["outcome"], r["source"], r["reviewer"], str(r["reviewed_at"])) for r in rows] == [
            ("c1", "pass", "import", "Lee", "2026-11-02 00:00:00"), ("c2", "fail", "import", "Lee", "2026-11-02 00:00:00")]


def test_calibration_counts_machine_and_reviewer_pairs(tmp_path):
    calls = [(f"c{i}", GOOD if i % 2 else NO_BYE) for i in range(1, 7)]
    with scored_store(tmp_path / "qa.duckdb", calls=calls) as store:
        reviews = Reviews(store)
        for call_id, _ in calls:  # maria agrees on greeting everywhere, says closing always passes
            reviews.record(ReviewInput(call_id, "greeting", None, "maria"))
            reviews.record(ReviewInput(call_id, "closing", "pass", "maria", "wrong_outcome"))
        reviews.record(ReviewInput("c1", "closing", "fail", "omar", "wrong_outcome"))
        result = reviews.calibration(store.call_rubric_hash("c1"), min_n=3)
        assert result.machine["greeting"].raw == 1.0 and result.machine["greeting"].n == 6
        closing = result.machine["closing"]  # machine passes c1 c3 c5; latest answers: c1 fail (omar), rest pass
        assert closing.n == 6 and closing.raw == pytest.approx(2 / 6)  # c3 and c5 agree
        assert result.humans["closing"].n == 1 and result.humans["closing"].raw == 0.0
        assert "closing" in result.flagged and "greeting" not in result.flagged


def test_sampling_queues_calls_and_skips_reviewed_ones(tmp_path):
    calls = [(f"c{i}", GOOD if i % 2 else NO_BYE) for i in range(1, 7)]
    with scored_store(tmp_path / "qa.duckdb", calls=calls) as store:
        reviews = Reviews(store)
        version = store.call_rubric_hash("c1")
        reviews.record(ReviewInput("c2", "greeting", None, "maria"))
        picks = reviews.sample(version, per_agent=3, period="month", seed=1)
        assert [p.agent for p in picks] == ["ann"] * 3 + ["bob"]  # c3 is bob's; 3 per agent per month
        assert "c2" not in {p.call_id for p in picks}
        assert picks == reviews.sample(version, per_agent=3, period="month", seed=1, queue=False)
        queue = store.review_queue(version)
        assert sorted(q["call_id"] for q in queue) == sorted(p.call_id for p in picks)


def test_forget_removes_the_reviews_of_the_call(tmp_path):
    with scored_store(tmp_path / "qa.duckdb") as store:
        Reviews(store).record(ReviewInput("c1", "closing", "pass", "maria", "wrong_outcome", "private note"))
        store.forget(call_ids=["c1"])
        for table in ("reviews", "final_scorecards", "final_results", "final_sections", "review_queue"):
            assert store.query(f"SELECT * FROM {table} WHERE call_id = 'c1'") == []
    assert b"private note" not in (tmp_path / "qa.duckdb").read_bytes()


def _write_calls_slowly(path: str, count: int, started) -> None:
    store = Store(path, hold=False)
    with CallScoring(store, parse_rubric(RUBRIC), RUBRIC) as scoring:
        started.set()
        for i in range(count):
            scoring.score(CallInfo(call_id=f"batch{i}", file=f"batch{i}.wav", content_hash=str(i), agent="ann"),
                          transcript(GOOD), run_id="batch", decide_roles=False)
            store.release()
            time.sleep(0.05)  # transcribing the next call
    store.close()


def test_a_writer_that_releases_the_file_lets_another_process_review_meanwhile(tmp_path):
    path = tmp_path / "qa.duckdb"
    scored_store(path).close()
    started = multiprocessing.get_context("spawn").Event()
    writer = multiprocessing.get_context("spawn").Process(target=_write_calls_slowly, args=(str(path), 20, started))
    writer.start()
    try:
        assert started.wait(60)
        recorded = 0
        while writer.is_alive() and recorded < 5:
            with Store(path, hold=False, wait_s=30) as store:
                Reviews(store).record(ReviewInput("c1", "closing", "pass", f"r{recorded}", "wrong_outcome"))
                recorded += 1
    finally:
        writer.join(120)
    assert writer.exitcode == 0 and recorded == 5
    with Store(path, read_only=True) as store:
        assert len(store.review_history("c1")) == 5
        assert len(store.query("SELECT call_id FROM calls WHERE call_id LIKE 'batch%'")) == 20


def test_opening_the_file_leaves_the_run_of_a_live_batch_running(tmp_path):
    import os
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    with Store(tmp_path / "qa.duckdb") as store:
        store.start_run("live", "h", "base", 3)  # this process: alive
        store.start_run("dead", "h", "base", 3)
        store.con.execute("UPDATE runs SET pid = ? WHERE run_id = 'dead'", [gone.pid])
        store.start_run("elsewhere", "h", "base", 3)
        store.con.execute("UPDATE runs SET host = 'another-machine' WHERE run_id = 'elsewhere'")
    with Store(tmp_path / "qa.duckdb") as store:
        assert {r["run_id"]: r["status"] for r in store.query("SELECT run_id, status FROM runs")} == {
            "live": "running", "dead": "interrupted", "elsewhere": "interrupted"}
        assert store.query("SELECT pid FROM runs WHERE run_id = 'live'") == [{"pid": os.getpid()}]


def test_exports_carry_final_answers_beside_the_machines(tmp_path):
    import csv

    from qa.export import export_tables

    path = tmp_path / "qa.duckdb"
    with scored_store(path) as store:
        Reviews(store).record(ReviewInput("c1", "closing", "pass", "maria", "wrong_outcome"))
    written = export_tables(path, tmp_path / "bi", "csv")
    cards = {r["call_id"]: r for r in csv.DictReader(written[0].open(encoding="utf-8"))}
    assert (cards["c1"]["score"], cards["c1"]["machine_score"], cards["c1"]["reviewed_criteria"]) == (
        "100.0", "50.0", "1")
    assert (cards["c2"]["score"], cards["c2"]["reviewed_criteria"]) == ("100.0", "0")
    results = {(r["call_id"], r["criterion_id"]): r for r in csv.DictReader(written[1].open(encoding="utf-8"))}
    closing = results[("c1", "closing")]
    assert (closing["outcome"], closing["machine_outcome"], closing["reviewed"]) == ("pass", "fail", "true")
