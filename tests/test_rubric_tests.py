"""Every shipped rubric passes its own test cases, which cover each criterion both ways."""
from __future__ import annotations

import subprocess
import sys

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
