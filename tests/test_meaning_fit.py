"""`qa rubric fit`: thresholds of meaning checks fitted from a rubric's test cases, written back
into the YAML, shown by `explain` and checked by `lint`. A stub embedder gives each sentence a
chosen similarity to the example ("Score 93." is 0.93 from it)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from qa.cli import app
from scoring import meaning, parse_rubric
from scoring.meaning_fit import fit_thresholds, fit_warnings, write_fits
from scoring.rubric_tests import TestCase, run_cases

EXAMPLE = "Thank you for waiting"


def stub_vectors(texts):
    rows = []
    for text in texts:
        found = re.search(r"Score (\d+)", text)
        sim = 1.0 if text == EXAMPLE else (int(found.group(1)) / 100 if found else 0.0)
        rows.append([sim, np.sqrt(max(0.0, 1 - sim * sim)), 0.0])
    return np.array(rows, dtype=np.float32)


@pytest.fixture(autouse=True)
def stub():
    meaning.set_embedder(stub_vectors)
    yield
    meaning.set_embedder(None)


RUBRIC = """\
id: fit-me
name: fit me   # a comment that must survive
languages: [en, ru]
phrase_sets:
  waiting: {en: ["thanks for holding"], ru: ["спасибо за ожидание"]}
sections:
  - id: s
    criteria:
      - id: thanks
        check:
          any:
            - {phrases: $waiting, speaker: agent}
            - meaning:
                examples: ["Thank you for waiting"]
              speaker: agent
"""


def case(name: str, lang: str, text: str, expect: str) -> TestCase:
    return TestCase(name=name, language=lang, turns=[("customer", 0, 1, "Hello."), ("agent", 2, 4, text)],
                    expect={"thanks": expect})


CASES = [
    case("p1", "en", "Score 95.", "pass"), case("p2", "ru", "Score 94.", "pass"),
    case("p3", "en", "Okay. Score 96.", "pass"),
    case("f1", "en", "Score 90.", "fail"), case("f2", "ru", "Score 88.", "fail"),
    case("f3", "tr", "Score 91. Score 60.", "fail"),
    case("phrase", "en", "Thanks for holding. Score 10.", "pass"),  # the phrase list decides it
]


def test_the_threshold_is_the_middle_of_the_gap_between_failing_and_passing_cases():
    [fit] = fit_thresholds(parse_rubric(RUBRIC, "r.yaml"), CASES)
    assert (fit.passing, fit.failing, fit.right) == (3, 3, 6)  # the phrase case does not depend on it
    assert fit.between == pytest.approx((0.91, 0.94), abs=1e-3)  # vectors are float16
    assert fit.threshold == pytest.approx(0.925)
    assert fit.languages == ["en", "ru", "tr"]
    assert fit.wrong == [] and fit.site.criterion.id == "thanks"


def test_the_rubric_is_left_as_it_was_and_the_fitted_rubric_passes_its_cases():
    rubric = parse_rubric(RUBRIC, "r.yaml")
    assert not all(r.ok for r in run_cases(rubric, CASES))  # default 0.90 passes "Score 90."
    [fit] = fit_thresholds(rubric, CASES)
    assert rubric.sections[0].criteria[0].check.any[1].meaning.threshold == 0.90
    fitted = parse_rubric(write_fits(RUBRIC, [fit]), "r.yaml")
    assert all(r.ok for r in run_cases(fitted, CASES))


def test_overlapping_cases_get_the_threshold_that_gets_most_of_them_right():
    cases = CASES + [case("f4", "en", "Score 95. Score 20.", "fail")]  # as close as a passing one
    [fit] = fit_thresholds(parse_rubric(RUBRIC, "r.yaml"), cases)
    assert fit.right == 6 and fit.cases == 7
    assert fit.threshold == pytest.approx(0.925)  # above 0.95 would lose p1 and p2 to win f4
    assert fit.wrong == ["f4"]


def test_too_few_cases_leave_the_threshold_and_say_why():
    [fit] = fit_thresholds(parse_rubric(RUBRIC, "r.yaml"), CASES[:5])
    assert fit.threshold is None
    assert fit.reason == "3 passing and 2 failing test cases depend on it; fitting needs at least 3 of each"


def test_a_meaning_check_in_applies_when_is_fitted_on_na_against_applies():
    text = RUBRIC.replace("        check:\n          any:", "        applies_when:\n          any:").replace(
        "              speaker: agent\n", "              speaker: agent\n        check: {event: hold}\n")
    rubric = parse_rubric(text, "r.yaml")
    cases = [c.model_copy(update={"expect": {"thanks": "fail" if c.expect["thanks"] == "pass" else "na"}})
             for c in CASES]  # applies (and fails: no hold) when it passes
    [fit] = fit_thresholds(rubric, cases)
    assert fit.site.path == ("sections", 0, "criteria", 0, "applies_when", "any", 1)
    assert fit.threshold == pytest.approx(0.925)


def test_written_thresholds_keep_the_rest_of_the_file_and_lint_reads_the_record():
    rubric = parse_rubric(RUBRIC, "r.yaml")
    assert [w for _, w in fit_warnings(rubric, CASES)] == [
        "meaning check of 'thanks': threshold 0.9 was not fitted; run `qa rubric fit` on this rubric"]
    assert [w for _, w in fit_warnings(rubric, CASES[:4])] == [
        "meaning check of 'thanks' has 3 passing and 1 failing test cases; fitting its threshold needs at "
        "least 3 of each"]
    text = write_fits(RUBRIC, fit_thresholds(rubric, CASES))
    assert "name: fit me   # a comment that must survive" in text
    assert text.replace("                threshold: 0.925\n", "").replace(
        "                fitted: {cases: 6, right: 6, languages: [en, ru, tr], examples: "
        f"{rubric.sections[0].criteria[0].check.any[1].meaning.fingerprint()}}}\n", "") == RUBRIC
    fitted = parse_rubric(text, "r.yaml")
    assert fit_warnings(fitted, CASES) == []
    changed = parse_rubric(text.replace('["Thank you for waiting"]', '["Thank you for waiting", "Score 99."]'), "r")
    assert [w for _, w in fit_warnings(changed, CASES)] == [
        "meaning check of 'thanks': examples changed since its threshold was fitted; run `qa rubric fit` again"]


def test_qa_rubric_fit_writes_the_rubric_and_explain_and_lint_show_it(tmp_path, monkeypatch):
    from ruamel.yaml import YAML

    from qa import rubric_cli

    monkeypatch.setattr(rubric_cli.console, "width", 300)  # no table cell wraps

    path = tmp_path / "r.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    with (tmp_path / "r.tests.yaml").open("w", encoding="utf-8") as out:
        YAML().dump({"cases": [c.model_dump(exclude_defaults=True) | {"turns": [list(t) for t in c.turns]}
                               for c in CASES]}, out)
    runner = CliRunner()
    lint = runner.invoke(app, ["rubric", "lint", str(path)])
    assert "r.yaml:13: meaning check of 'thanks': threshold 0.9 was not fitted" in lint.output
    dry = runner.invoke(app, ["rubric", "fit", str(path), "--dry-run"])
    assert dry.exit_code == 0 and "threshold 0.9 -> 0.925" in dry.output and "6/6 cases right" in dry.output
    assert path.read_text(encoding="utf-8") == RUBRIC
    result = runner.invoke(app, ["rubric", "fit", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 threshold(s) written" in result.output
    assert "threshold: 0.925" in path.read_text(encoding="utf-8")
    explain = runner.invoke(app, ["rubric", "explain", str(path)])
    assert "similarity ≥ 0.925, fitted on 6/6 test cases" in explain.output
    assert "not fitted" not in runner.invoke(app, ["rubric", "lint", str(path)]).output
