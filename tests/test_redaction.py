"""Personal data never reaches the database or the HTML; typed placeholders do."""
from __future__ import annotations

import json

import duckdb
import pytest

from qa_types import Role, Transcript, Turn, Word
from tests.conftest import qa
from transcribe.redact import find_personal_data, luhn_valid, redact

CARD = "4539 1488 0343 6467"          # passes Luhn
PHONE = "+44 20 7946 0958"
EMAIL = "jane.roe@example.com"


def test_luhn():
    assert luhn_valid("4539148803436467") and not luhn_valid("4539148803436468")


@pytest.mark.parametrize("text, kinds", [
    (f"my card is {CARD}", ["CARD"]),
    ("my card is 4539 1488 0343 6468", []),                    # fails Luhn: not a card
    (f"call {PHONE} or mail {EMAIL}", ["PHONE", "EMAIL"]),
    ("IBAN GB82 WEST 1234 5698 7654 32", ["IBAN"]),
    ("four five three nine one four eight eight zero three four three six four six seven", ["CARD"]),
    ("один два три четыре пять шесть семь восемь девять ноль один два три", ["DIGITS"]),
    ("order 12345 on 2026-11-02 costs 49.99", []),
])
def test_kinds_found(text, kinds):
    assert [k for _, _, k in find_personal_data(text)] == kinds


def test_words_keep_their_timing():
    words = [Word(" card", 1.0, 1.4), Word(" 4539", 1.5, 1.9), Word(" 1488", 2.0, 2.4), Word(" 0343", 2.5, 2.9),
             Word(" 6467.", 3.0, 3.4), Word(" thanks", 3.5, 3.9)]
    turn = Turn("customer", Role.CUSTOMER, 1.0, 3.9, "card 4539 1488 0343 6467. thanks", words)
    clean, counts = redact(Transcript([turn], "en", 5.0))
    assert counts == {"CARD": 1}
    assert clean.turns[0].text == "card [CARD]. thanks"
    assert [(w.text, w.start, w.end) for w in clean.turns[0].words] == [
        (" card", 1.0, 1.4), (" [CARD]", 1.5, 3.4), (" thanks", 3.5, 3.9)]


def test_imported_call_with_personal_data(tmp_path):
    call = {"call_id": "pii", "agent": "alice", "language": "en", "turns": [
        {"role": "agent", "start": 0.5, "end": 3, "text": "Thank you for calling, how can I help?"},
        {"role": "customer", "start": 3.5, "end": 9, "text": f"My card {CARD} was charged, call me on {PHONE}."},
        {"role": "customer", "start": 9.5, "end": 12, "text": f"Or write to {EMAIL} please."},
    ]}
    (tmp_path / "pii.json").write_text(json.dumps(call))
    assert qa("import", "pii.json", "--db", "qa.duckdb", cwd=tmp_path).returncode == 0
    assert qa("report", "--db", "qa.duckdb", "--out", "site", cwd=tmp_path).returncode == 0
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    stored = " ".join(str(v) for table in ("turns", "evidence", "calls", "criterion_results")
                      for row in con.execute(f"SELECT * FROM {table}").fetchall() for v in row)
    assert json.loads(con.execute("SELECT redactions FROM calls").fetchone()[0]) == {"CARD": 1, "PHONE": 1, "EMAIL": 1}
    con.close()
    html = " ".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))
    for secret in (CARD, CARD.replace(" ", ""), "7946", EMAIL, "jane.roe"):
        assert secret not in stored and secret not in html
    for placeholder in ("[CARD]", "[PHONE]", "[EMAIL]"):
        assert placeholder in stored and placeholder in html


def test_no_redact_keeps_the_text(tmp_path):
    call = {"call_id": "raw", "language": "en", "turns": [{"role": "customer", "start": 0, "end": 2, "text": f"card {CARD}"}]}
    (tmp_path / "raw.json").write_text(json.dumps(call))
    assert qa("import", "raw.json", "--db", "qa.duckdb", "--no-redact", cwd=tmp_path).returncode == 0
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    assert con.execute("SELECT text FROM turns").fetchone()[0] == f"card {CARD}"
    con.close()


def test_forget_an_agent_removes_every_row(tmp_path):
    for n, agent in enumerate(["alice", "bob"]):
        call = {"call_id": f"c{n}", "agent": agent, "language": "en",
                "turns": [{"role": "agent", "start": 0, "end": 2, "text": "Thank you for calling."}]}
        (tmp_path / f"c{n}.json").write_text(json.dumps(call))
    assert qa("import", "c0.json", "c1.json", "--db", "qa.duckdb", cwd=tmp_path).returncode == 0
    run = qa("forget", "--agent", "alice", "--db", "qa.duckdb", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "removed 1 call(s): c0" in run.stdout and "calls 1" in run.stdout
    con = duckdb.connect(str(tmp_path / "qa.duckdb"), read_only=True)
    for table in ("calls", "turns", "scorecards", "criterion_results", "evidence"):
        assert con.execute(f"SELECT count(*) FROM {table} WHERE call_id = 'c0'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 1
    con.close()
    missing = qa("forget", "--call", "nope", "--db", "qa.duckdb", cwd=tmp_path)
    assert missing.returncode == 2 and "no call matches nope" in missing.stderr
