"""CLI errors for a user's mistakes: one line naming the file and the fault, no traceback."""
from __future__ import annotations

import subprocess

import pytest

from rubrics import rubric_path
from tests.conftest import one_line_error
from tests.conftest import qa as run_qa


def qa(*args: str, cwd) -> subprocess.CompletedProcess:
    return run_qa(*args, cwd=cwd, timeout=120)


_one_line_error = one_line_error  # the name tests/test_inputs.py, test_import_checks.py, test_import_formats.py import


@pytest.mark.parametrize("edit, expected", [
    (("sections:", "sections: ["), "invalid YAML"),
    (("        points: 10\n        check:\n          any:\n            - {phrases: $greeting",
      "        points: 10\n        colour: red\n        check:\n          any:\n            - {phrases: $greeting"),
     "sections[0].criteria[0].colour: Extra inputs are not permitted"),
    (("    weight: 20\n    criteria:\n      - id: greeting", "    weight: lots\n    criteria:\n      - id: greeting"),
     "sections[0].weight: Input should be a valid number"),
])
def test_broken_rubric_is_one_line_with_file_path_and_line(tmp_path, edit, expected):
    text = rubric_path("inbound_support").read_text(encoding="utf-8")
    assert edit[0] in text
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    (tmp_path / "a.wav").write_bytes(b"")
    line = one_line_error(qa("score", "a.wav", "--rubric", str(broken), cwd=tmp_path))
    assert str(broken) in line and expected in line
    assert line.split(str(broken) + ":")[1].split(":")[0].isdigit()  # the line number


def test_metadata_without_file_column(tmp_path):
    (tmp_path / "calls.csv").write_text("call_id,agent\nc1,alice\n")
    (tmp_path / "a.wav").write_bytes(b"")
    line = one_line_error(qa("score", "a.wav", "--metadata", "calls.csv", cwd=tmp_path))
    assert "calls.csv" in line and "missing required column 'file'" in line


def test_report_without_database(tmp_path):
    line = one_line_error(qa("report", "--db", "none.duckdb", cwd=tmp_path))
    assert "none.duckdb: database not found" in line


def test_help_lists_the_commands(tmp_path):
    run = qa("--help", cwd=tmp_path)
    assert run.returncode == 0
    for command in ("score", "report", "failures"):
        assert command in run.stdout


def test_metadata_rows_and_files_that_do_not_match_are_named(tmp_path):
    (tmp_path / "calls.csv").write_text("file,call_id,agent\nother.wav,c9,alice\n")
    (tmp_path / "a.wav").write_bytes(b"")
    run = qa("score", "a.wav", "--metadata", "calls.csv", "--db", "qa.duckdb", cwd=tmp_path)
    assert "calls.csv: no row for 1 file(s) (a.wav)" in run.stderr
    assert "calls.csv: 1 row(s) name calls not in this batch (c9)" in run.stderr
    assert "a.wav: empty file (0 bytes)" in run.stderr
