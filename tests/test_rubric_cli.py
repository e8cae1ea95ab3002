"""`qa rubric lint|test|explain` print the rubric's own text literally: square brackets in
names, descriptions or file names are not rich markup (a stray `[/]` used to crash explain)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from qa import rubric_cli
from qa.rubric_cli import rubric_app

MARKUP_RUBRIC = """\
id: markup
name: "Support [/] [bold]QA[/bold] [red"
description: "Scores [link=x]links[/link] and [/]"
bands: [{min: 50, label: "[/]fine"}]
phrase_sets:
  hello: {en: ["thank you for calling"]}
sections:
  - id: opening
    name: "Opening [/]"
    criteria:
      - id: greeting
        name: "Greets [i]warmly[/i]"
        check: {phrases: $hello}
"""
CASES = """\
cases:
  - name: "greets [/] [bold]politely[/bold]"
    language: en
    turns: [[agent, 0.5, 2.0, "Thank you for calling!"]]
    expect: {greeting: pass}
"""


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Wide enough that no line or table cell wraps."""
    monkeypatch.setattr(rubric_cli.console, "width", 250)
    monkeypatch.setattr(rubric_cli.err, "width", 250)


def invoke(*args: str):
    result = CliRunner().invoke(rubric_app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def test_explain_prints_names_with_brackets_literally(tmp_path):
    (tmp_path / "r.yaml").write_text(MARKUP_RUBRIC, encoding="utf-8")
    result = invoke("explain", str(tmp_path / "r.yaml"))
    assert result.exit_code == 0, result.output
    for text in ("Support [/] [bold]QA[/bold] [red", "Scores [link=x]links[/link] and [/]", "[/]fine ≥ 50",
                 "Opening [/] — weight 10", "Greets [i]warmly[/i]", "agent says one of $hello"):
        assert text in result.output, text


def test_lint_prints_a_path_with_brackets_literally(tmp_path):
    folder = tmp_path / "team [" / "] rubrics"  # the path reads ".../team [/] rubrics/r.yaml"
    folder.mkdir(parents=True)
    (folder / "r.yaml").write_text(MARKUP_RUBRIC, encoding="utf-8")
    result = invoke("lint", str(folder / "r.yaml"))
    assert result.exit_code == 0, result.output
    assert "team [/] rubrics/r.yaml: ok (1 criteria, 0 warnings)" in result.output


def test_test_prints_file_and_case_names_literally(tmp_path):
    (tmp_path / "[bold]r.yaml").write_text(MARKUP_RUBRIC, encoding="utf-8")
    (tmp_path / "[bold]r.tests.yaml").write_text(CASES, encoding="utf-8")
    result = invoke("test", str(tmp_path / "[bold]r.yaml"))
    assert result.exit_code == 0, result.output
    assert "[bold]r.yaml [en] greets [/] [bold]politely[/bold]" in result.output
    assert "[bold]r.yaml: 1 passed, 0 failed" in result.output
