"""Personal data never reaches the database or the HTML; typed placeholders do."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from ruamel.yaml import YAML

from qa.call_export import to_json, to_srt
from qa.store import CallInfo
from qa_types import Role, Transcript, Turn, Word
from tests.conftest import qa
from transcribe.redact import find_personal_data, luhn_valid, redact

CARD = "4539 1488 0343 6467"          # passes Luhn
PHONE = "+44 20 7946 0958"
EMAIL = "jane.roe@example.com"

CASES = YAML(typ="safe").load((Path(__file__).parent / "redaction_cases.yaml").read_text(encoding="utf-8"))
CASE_IDS = [f"{case['lang']}-{n}" for n, case in enumerate(CASES, start=1)]
PLACEHOLDER = re.compile(r"\[(CARD|PHONE|EMAIL|IBAN|DIGITS)\]")


def _whisper_words(text: str, start: float, split_digits: bool = False) -> list[Word]:
    """Words as Whisper gives them: each with its leading space, 0.3 s apart; with split_digits,
    digit groups come in pieces of two (" 45", "39"), as Whisper's tokens often do."""
    pieces = []
    for token in re.findall(r"\s*\S+", text):
        if split_digits and re.fullmatch(r"\s*\d{3,}", token):
            head = re.match(r"\s*\d\d", token).group()
            pieces += [head] + re.findall(r"\d{1,2}", token[len(head):])
        else:
            pieces.append(token)
    return [Word(piece, start + 0.3 * i, start + 0.3 * i + 0.25) for i, piece in enumerate(pieces)]


def _case_transcript(case: dict, split_digits: bool = False) -> Transcript:
    pairs = case["turns"] if "turns" in case else [["customer", case["text"]]]
    turns, t = [], 0.0
    for speaker, text in pairs:
        words = _whisper_words(text, t, split_digits)
        turns.append(Turn(speaker, Role(speaker), t, words[-1].end, "".join(w.text for w in words).strip(), words))
        t = words[-1].end + 0.4
    return Transcript(turns, case["lang"], t)


def _expected(case: dict) -> tuple[list[str], dict[str, int]]:
    texts = case["expect"] if "turns" in case else [case["expect"]]
    counts = case.get("counts")
    if counts is None:
        counts = dict(Counter(m.group(1) for text in texts for m in PLACEHOLDER.finditer(text)))
    return texts, counts


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
        (" card", 1.0, 1.4), (" [CARD].", 1.5, 3.4), (" thanks", 3.5, 3.9)]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_redaction_table(case):
    """Each case of tests/redaction_cases.yaml: the redacted turn texts and the counts."""
    texts, counts = _expected(case)
    clean, found = redact(_case_transcript(case))
    assert [t.text for t in clean.turns] == texts
    assert found == counts


@pytest.mark.parametrize("split_digits", [False, True], ids=["whole-words", "digits-in-pieces"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_words_follow_the_text(case, split_digits):
    """SRT and JSON exports read the words: after redaction they spell the redacted text, so no
    digit or letter of a redacted number or address survives there, and every word keeps its time."""
    original = _case_transcript(case, split_digits)
    clean, _ = redact(original)
    for before, after in zip(original.turns, clean.turns):
        assert "".join(w.text for w in after.words).strip() == after.text
        assert after.words[0].start == before.words[0].start and after.words[-1].end == before.words[-1].end
        assert all(a.start <= b.start for a, b in zip(after.words, after.words[1:]))
        for word in after.words:
            if PLACEHOLDER.search(word.text):
                assert not re.search(r"\d", word.text)


def test_card_split_over_turns_words_and_exports():
    """A card read in two turns with the agent's "mhm" between: one redaction, both halves gone
    from text, words, SRT and JSON; the placeholders keep the halves' timings."""
    turns = [
        Turn("customer", Role.CUSTOMER, 0.0, 2.4, "it's 4539 1488", [
            Word(" it's", 0.0, 0.4), Word(" 45", 0.5, 0.8), Word("39", 0.8, 1.1), Word(" 1488", 1.4, 2.4)]),
        Turn("agent", Role.AGENT, 2.6, 2.9, "mhm", [Word(" mhm", 2.6, 2.9)]),
        Turn("customer", Role.CUSTOMER, 3.2, 5.5, "um 0343 6467, right", [
            Word(" um", 3.2, 3.4), Word(" 0343", 3.5, 4.3), Word(" 6467,", 4.4, 5.1), Word(" right", 5.2, 5.5)]),
    ]
    clean, counts = redact(Transcript(turns, "en", 6.0))
    assert counts == {"CARD": 1}
    assert [t.text for t in clean.turns] == ["it's [CARD]", "mhm", "[CARD], right"]
    assert [(w.text, w.start, w.end) for w in clean.turns[0].words] == [(" it's", 0.0, 0.4), (" [CARD]", 0.5, 2.4)]
    assert [(w.text, w.start, w.end) for w in clean.turns[2].words] == [(" [CARD],", 3.2, 5.1), (" right", 5.2, 5.5)]
    info = CallInfo(call_id="c", file="c.wav", content_hash="x", redactions=counts)
    for document in (to_srt(clean), to_json(info, clean)):
        assert "[CARD]" in document
        for secret in ("4539", "1488", "0343", "6467", "45", "39"):
            assert secret not in document


def test_counts_over_a_call():
    """Counts are per call and per kind; a number split over turns counts once."""
    case = {"lang": "en", "turns": [
        ["customer", "card 4539 1488 0343 6467 and mail john dot smith at example dot com"],
        ["agent", "and your phone?"],
        ["customer", "plus four four seven nine one one one two three four five six"],
        ["customer", "and the other card is 5555 5555"],
        ["customer", "5555 4444, iban gb82west12345698765432"],
    ]}
    clean, counts = redact(_case_transcript(case))
    assert counts == {"CARD": 2, "EMAIL": 1, "PHONE": 1, "IBAN": 1}
    assert [t.text for t in clean.turns] == [
        "card [CARD] and mail [EMAIL]", "and your phone?", "[PHONE]",
        "and the other card is [CARD]", "[CARD], iban [IBAN]"]


def test_far_apart_turns_are_not_joined():
    """Halves of a number join only across a short interjection and a short pause."""
    case = {"lang": "en", "turns": [
        ["customer", "it's 4539 1488"],
        ["agent", "sorry, could you please repeat the whole number for me slowly"],
        ["customer", "0343 6467"],
    ]}
    clean, counts = redact(_case_transcript(case))
    assert counts == {} and clean.turns[0].text == "it's 4539 1488"
    late = _case_transcript({"lang": "en", "turns": [["customer", "it's 4539 1488"], ["customer", "0343 6467"]]})
    late.turns[1] = Turn("customer", Role.CUSTOMER, 60.0, 61.0, "0343 6467",
                         [Word(" 0343", 60.0, 60.5), Word(" 6467", 60.5, 61.0)])
    assert redact(late)[1] == {}


def test_words_that_do_not_spell_the_text_are_redacted_on_their_own():
    """Turn text edited after recognition (here: a note put before it): the words are searched
    themselves, and nothing of the phone number or address is left in them."""
    words = [Word(" Call", 0.0, 0.3), Word(" +44", 0.4, 0.6), Word(" 20", 0.6, 0.8), Word(" 7946", 0.8, 1.2),
             Word(" 0958", 1.2, 1.6), Word(" or", 1.7, 1.8), Word(" John.Smith@Example.com", 1.9, 2.5)]
    turn = Turn("customer", Role.CUSTOMER, 0.0, 2.5, "[crosstalk] Call +44 20 7946 0958 or John.Smith@Example.com", words)
    clean, counts = redact(Transcript([turn], "en", 3.0))
    assert counts == {"PHONE": 1, "EMAIL": 1}
    assert clean.turns[0].text == "[crosstalk] Call [PHONE] or [EMAIL]"
    assert [(w.text, w.start, w.end) for w in clean.turns[0].words] == [
        (" Call", 0.0, 0.3), (" [PHONE]", 0.4, 1.6), (" or", 1.7, 1.8), (" [EMAIL]", 1.9, 2.5)]


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
