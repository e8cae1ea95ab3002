"""Rubric test cases (NAME.tests.yaml): every shipped rubric passes its own, which cover each
criterion both ways and pin score, band and flags; the scoring rules are pinned by
tests/rubric_cases/scoring_rules.yaml; `qa rubric test` and `qa rubric lint` report what differs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rubrics import shipped
from scoring import load_rubric
from scoring.rubric_tests import coverage, load_cases, run_cases
from scoring.rubric_tests import tests_path_for as cases_file

SHIPPED = sorted(shipped())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_rubric_cases_pass(name):
    rubric, _ = load_rubric(shipped()[name])
    results = run_cases(rubric, load_cases(cases_file(shipped()[name])))
    assert results
    assert [(r.name, r.mismatches) for r in results if not r.ok] == []


@pytest.mark.parametrize("name", SHIPPED)
def test_every_criterion_passes_and_fails_in_two_languages(name):
    rubric, _ = load_rubric(shipped()[name])
    table = coverage(rubric, load_cases(cases_file(shipped()[name])))
    thin = {cid: {k: sorted(v) for k, v in cov.items()} for cid, cov in table.items()
            if len(cov["pass"]) < 2 or len(cov["fail"]) < 2}
    assert thin == {}


def test_three_rubrics_are_shipped():
    assert {"inbound_support", "outbound_sales", "collections"} <= set(SHIPPED)


def test_cli_reports_a_failing_case(tmp_path):
    rubric = shipped()["inbound_support"]
    (tmp_path / "r.yaml").write_text(rubric.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "r.tests.yaml").write_text(
        "cases:\n  - name: wrong expectation\n    language: en\n"
        "    turns: [[agent, 0.5, 2.0, 'Thank you for calling!']]\n    expect: {greeting: fail}\n",
        encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "qa.cli", "rubric", "test", str(tmp_path / "r.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "FAIL" in run.stdout and "greeting: expected fail, got pass" in run.stdout
    assert "0 passed, 1 failed" in run.stdout


def test_broken_test_file_is_one_line_with_its_line(tmp_path):
    from scoring.rubric_tests import RubricTestError

    path = tmp_path / "r.tests.yaml"
    path.write_text("cases:\n  - name: x\n    language: en\n    turns: [[agent, 0, 1, hi]]\n"
                    "    expect: {greeting: maybe}\n", encoding="utf-8")
    with pytest.raises(RubricTestError) as err:
        load_cases(path)
    assert str(err.value).startswith(f"{path}:5: cases[0].expect.greeting: Input should be 'pass', 'fail' or 'na'")


RULES = Path(__file__).parent / "rubric_cases" / "scoring_rules.yaml"


def test_scoring_rule_cases_pass():
    """tests/rubric_cases/scoring_rules.yaml: section weights, bonus criteria (making up for a
    miss, capped at full marks), `critical: flag`, an N/A section, a bonus-only section and an
    all-N/A call, each case with its expected score, band and flags."""
    rubric, _ = load_rubric(RULES)
    cases = load_cases(cases_file(RULES))
    assert all(c.expect_score is not None and "expect_band" in c.model_fields_set for c in cases)
    results = run_cases(rubric, cases)
    assert [(r.name, r.mismatches) for r in results if not r.ok] == []
    assert len(results) == 8


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_cases_state_score_band_and_flags(name):
    """Every shipped case pins the call's score, band and flags (checked by test_shipped_rubric_cases_pass)."""
    cases = load_cases(cases_file(shipped()[name]))
    assert [c.name for c in cases if c.expect_score is None or c.expect_flags is None
            or "expect_band" not in c.model_fields_set] == []


def test_wrong_score_band_and_flags_are_reported(tmp_path):
    rubric, _ = load_rubric(RULES)
    path = tmp_path / "r.tests.yaml"
    path.write_text(
        "cases:\n  - name: wrong\n    language: en\n    turns: [[agent, 0.5, 4.0, 'Thank you for calling.']]\n"
        "    expect_score: 90\n    expect_band: excellent\n    expect_flags: [greeting, nosuch]\n", encoding="utf-8")
    [result] = run_cases(rubric, load_cases(path))
    assert result.mismatches == [
        "score: expected 90, got 18.75 (opening 10/20 w30, compliance 0/10 w50, empathy N/A w20, extra_mile N/A w10)",
        "band: expected excellent, got poor (score 18.75)",
        "expect_flags: unknown criterion 'nosuch'",
        "flags: expected ['greeting', 'nosuch'], got ['verification']",
    ]


def test_expect_band_null_means_no_band(tmp_path):
    rubric, _ = load_rubric(shipped()["inbound_support"])
    rubric = rubric.model_copy(update={"bands": []})
    path = tmp_path / "r.tests.yaml"
    path.write_text("cases:\n  - name: x\n    language: en\n    turns: [[agent, 0.5, 2.0, 'Thank you for calling!']]\n"
                    "    expect_band: null\n", encoding="utf-8")
    assert run_cases(rubric, load_cases(path))[0].ok


def test_a_case_without_expectations_is_refused_in_one_line(tmp_path):
    from scoring.rubric_tests import RubricTestError

    path = tmp_path / "r.tests.yaml"
    path.write_text("cases:\n  - name: x\n    language: en\n    turns: [[agent, 0, 1, hi]]\n", encoding="utf-8")
    with pytest.raises(RubricTestError) as err:
        load_cases(path)
    assert str(err.value).startswith(f"{path}:2: cases[0]: ")
    assert "a case needs expect (outcome per criterion) or expect_score" in str(err.value)


def test_lint_warns_about_a_section_of_only_bonus_criteria():
    """Such a section can never change a score; lint says so at the section's line."""
    from scoring.rubric_loader import lint_warnings

    rubric, text = load_rubric(RULES)
    assert lint_warnings(rubric, text, "r.yaml") == [
        "r.yaml:41: sections[3]: every criterion of section 'extra_mile' is a bonus one, so it never changes a "
        "score (a bonus only makes up for missed points of its own section); move them into a scored section"]
    for name in SHIPPED:
        rubric, text = load_rubric(shipped()[name])
        assert not [w for w in lint_warnings(rubric, text, name) if "bonus" in w]


def test_cli_checks_score_band_and_flags(tmp_path):
    (tmp_path / "r.yaml").write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "r.tests.yaml").write_text(
        "cases:\n  - name: wrong score\n    language: en\n    turns: [[agent, 0.5, 4.0, 'Thank you for calling.']]\n"
        "    expect_score: 90\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "qa.cli", "rubric", "test", str(tmp_path / "r.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "score: expected 90, got 18.75" in run.stdout and "0 passed, 1 failed" in run.stdout
