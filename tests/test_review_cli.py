"""`qa calibrate`, `qa sample` and `qa review import` on a scored database: figures that match
hand-computed ones, the min-n wording, reproducible samples that skip reviewed calls, imports
that list skipped rows, and one error line (no traceback) for a missing database, an unknown
rubric or a broken CSV."""
from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from qa import review_cli
from qa.cli import app
from qa.reviews import ReviewInput, Reviews
from tests.test_reviews import GOOD, NO_BYE, scored_store

NO_HELLO = [("agent", 0, 2, "Hello there."), ("customer", 2.5, 4, "Hi."), ("agent", 5, 6, "Goodbye.")]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Wide enough that no table cell wraps."""
    monkeypatch.setattr(review_cli.console, "width", 300)
    monkeypatch.setattr(review_cli.err, "width", 300)


def qa(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def skewed_db(tmp_path_factory):
    """40 calls. The machine passes greeting on all but c01; maria answers greeting on every call
    and passes all but c02; omar also answers c03 (pass). Nobody reviews closing.

    Pairs (machine, maria): c01 (fail, pass), c02 (pass, fail), 38 × (pass, pass).
      raw   = 38/40 = 0.95
      kappa: each rater passes 39/40, so p_e = 0.975² + 0.025² = 0.95125,
             kappa = (0.95 - 0.95125) / (1 - 0.95125) = -0.0256  -> -0.03
      AC1 (q = 3: pass, fail, na): shares π = 0.975, 0.025, 0,
             p_e = (0.975·0.025 + 0.025·0.975 + 0) / 2 = 0.024375,
             AC1 = (0.95 - 0.024375) / (1 - 0.024375) = 0.94875  -> 0.95
    Latest answers per call give the same 40 pairs (omar agrees with maria on c03)."""
    path = tmp_path_factory.mktemp("skewed") / "qa.duckdb"
    calls = [(f"c{i:02d}", NO_HELLO if i == 1 else GOOD) for i in range(1, 41)]
    with scored_store(path, calls=calls) as store:
        answers = {"c01": "pass", "c02": "fail"}
        Reviews(store).record_many(
            [ReviewInput(cid, "greeting", answers.get(cid), "maria", "wrong_outcome" if cid in answers else "agree")
             for cid, _ in calls] + [ReviewInput("c03", "greeting", "pass", "omar")])
    return path


def test_calibrate_shows_raw_agreement_kappa_and_ac1_of_a_skewed_criterion(skewed_db):
    result = qa("calibrate", "--db", str(skewed_db))
    assert result.exit_code == 0, result.output
    [greeting] = [line for line in result.output.splitlines() if "greeting" in line]
    cells = [c.strip() for c in greeting.split("│")]
    assert cells[2:6] == ["40", "0.95", "-0.03", "0.95"]  # n, raw, kappa, AC1: both numbers visible
    assert "0.97/0.03/0.00" in greeting and "38; 1, 1, 0" in greeting and "ok" in greeting
    assert "1: n < 20" in greeting  # one pair of reviewers (maria, omar on c03): too few


def test_calibrate_csv_and_json_carry_the_exact_figures(skewed_db):
    rows = list(csv.DictReader(io.StringIO(qa("calibrate", "--db", str(skewed_db), "--format", "csv").output)))
    greeting = next(r for r in rows if r["criterion_id"] == "greeting")
    assert float(greeting["machine_raw"]) == pytest.approx(0.95)
    assert float(greeting["machine_kappa"]) == pytest.approx(-0.00125 / 0.04875)
    assert float(greeting["machine_ac1"]) == pytest.approx(0.925625 / 0.975625)
    assert (greeting["machine_pass_human_fail"], greeting["machine_fail_human_pass"]) == ("1", "1")
    data = json.loads(qa("calibrate", "--db", str(skewed_db), "--format", "json").output)
    [closing] = [c for c in data["criteria"] if c["criterion_id"] == "closing"]
    assert closing["machine"]["n"] == 0 and closing["machine"]["ac1"] is None
    assert closing["needs_review"] == "only 0 pairs, too few to judge"


def test_below_min_n_the_figures_read_n_less_than_and_the_criterion_needs_review(skewed_db):
    result = qa("calibrate", "--db", str(skewed_db), "--min-n", "50")
    [greeting] = [line for line in result.output.splitlines() if "greeting" in line]
    cells = [c.strip() for c in greeting.split("│")]
    assert cells[2:6] == ["40", "n < 50", "n < 50", "n < 50"]  # n still printed
    assert "needs human review (only 40 pairs, too few to judge)" in greeting
    [closing] = [line for line in result.output.splitlines() if "closing" in line]
    assert "n < 50" in closing and "needs human review" in closing
    # Enough pairs but AC1 under a stricter gate.
    strict = qa("calibrate", "--db", str(skewed_db), "--gate", "0.97").output
    assert "needs human review (AC1 0.95 below 0.97)" in strict


def test_sample_is_reproducible_skips_reviewed_calls_and_queues(tmp_path):
    calls = [(f"c{i}", GOOD if i % 2 else NO_BYE) for i in range(1, 9)]
    db = tmp_path / "qa.duckdb"
    with scored_store(db, calls=calls) as store:
        Reviews(store).record(ReviewInput("c2", "greeting", None, "maria"))
    first = qa("sample", "--db", str(db), "--per-agent", "3", "--period", "month", "--seed", "7")
    assert first.exit_code == 0, first.output
    assert "4 call(s) picked and queued for review" in first.output  # 3 of ann's, bob's c3
    picked = [line.split("│")[1].strip() for line in first.output.splitlines() if line.startswith("│ c")]
    assert len(picked) == 4 and "c2" not in picked
    again = qa("sample", "--db", str(db), "--per-agent", "3", "--period", "month", "--seed", "7")
    assert again.output == first.output
    with scored_store(db, calls=()) as store:
        assert sorted(q["call_id"] for q in store.review_queue()) == sorted(picked)


def test_import_records_rows_and_lists_the_skipped_ones(tmp_path):
    db, evals = tmp_path / "qa.duckdb", tmp_path / "evals.csv"
    scored_store(db).close()
    evals.write_text("call_id,criterion,outcome,evaluator\nc1,closing,yes,Lee\nc9,greeting,no,Lee\n"
                     "c2,greeting,no,Lee\n", encoding="utf-8")
    result = qa("review", "import", str(evals), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "skipped line 3: call 'c9' is not scored in this database" in result.output
    assert "2 evaluation(s) recorded, 1 skipped" in result.output
    with scored_store(db, calls=()) as store:
        assert [r["outcome"] for r in store.review_history("c1") + store.review_history("c2")] == ["pass", "fail"]


def test_a_broken_csv_is_one_error_line_and_stores_nothing(tmp_path):
    db, evals = tmp_path / "qa.duckdb", tmp_path / "evals.csv"
    scored_store(db).close()
    evals.write_text("call_id,criterion,outcome,evaluator\nc1,closing,yes,Lee\nc2,greeting,maybe,Lee\n",
                     encoding="utf-8")
    result = qa("review", "import", str(evals), "--db", str(db))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {evals}:3: unknown outcome 'maybe' (expected pass, fail or na)"
    with scored_store(db, calls=()) as store:
        assert store.review_history("c1") == []


@pytest.mark.parametrize("args, message", [
    (("calibrate", "--db", "{tmp}/none.duckdb"), "{tmp}/none.duckdb: database not found"),
    (("sample", "--db", "{tmp}/none.duckdb", "--per-agent", "1"), "{tmp}/none.duckdb: database not found"),
    (("review", "import", "{tmp}/e.csv", "--db", "{tmp}/none.duckdb"), "{tmp}/none.duckdb: database not found"),
    (("calibrate", "--db", "{tmp}/qa.duckdb", "--rubric", "nope"), "{tmp}/qa.duckdb: no scorecards for rubric 'nope'"),
    (("sample", "--db", "{tmp}/qa.duckdb", "--per-agent", "1", "--rubric", "nope"),
     "{tmp}/qa.duckdb: no scorecards for rubric 'nope'"),
])
def test_faults_are_one_clear_line(tmp_path, args, message):
    scored_store(tmp_path / "qa.duckdb").close()
    (tmp_path / "e.csv").write_text("call_id,criterion,outcome,evaluator\n", encoding="utf-8")
    result = qa(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: " + message.replace("{tmp}", str(tmp_path))), lines
