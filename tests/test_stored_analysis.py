"""What scoring needs from text is computed once, when a transcript is stored, and kept with it:
each turn's tokens, lemmas, norms and token times (`scoring.text.TurnTokens`). `qa rescore`
reads them instead of analysing the text again, in worker processes for large stores, and gets
exactly what a full scoring of the text gets. A stub embedder stands in for the sentence model."""
from __future__ import annotations

import os

import pytest

import qa.rescore as rescoring
import scoring.calltext as calltext
from qa.rescore import _score_slice, rescore
from qa.scoring_service import CallScoring
from qa.store import Store
from qa_types import CallRecord, Role, Transcript, Turn, Word
from scoring import RubricScorer, meaning, parse_rubric
from scoring.calltext import CallText, _span_times, token_span_times
from scoring.text import TurnTokens, analyser_id
from tests.test_meaning import StubEmbedder

RUBRIC = """id: r
name: r
sections:
  - id: s
    criteria:
      - id: greeting
        check: {phrases: {en: ["thank you for calling"], ru: ["спасибо за звонок"], tr: ["aradığınız için teşekkürler"]}}
      - id: empathy
        check: {any: [{phrases: {en: ["I understand"], ru: ["я понимаю"], tr: ["anlıyorum"]}},
                      {meaning: {examples: ["I am sorry to hear that"]}}]}
      - id: closing
        check: {phrases: {en: ["have a nice day"], ru: ["хорошего дня"], tr: ["iyi günler"]}, within: {last_seconds: 60}}
"""

LINES = {
    "en": [("agent", "Thank you for calling Acme, I'm Dana. How can I help?"),
           ("customer", "Hi. My card, the 'gold' one, doesn't work!"),
           ("agent", "I understand. I am sorry to hear that... Let me check."),
           ("agent", "Done -- it works now. Have a nice day!")],
    "ru": [("agent", "Спасибо за звонок, меня зовут Ольга."),
           ("customer", "Моя карта не работает."),
           ("agent", "Я понимаю, сейчас проверю."),
           ("agent", "Готово. Хорошего дня!")],
    "tr": [("agent", "Aradığınız için teşekkürler, ben Ayşe."),
           ("customer", "Kartım çalışmıyor."),
           ("agent", "Anlıyorum, hemen bakıyorum."),
           ("agent", "Tamamdır. İyi günler!")],
}


def whisper_turn(role: str, start: float, text: str) -> Turn:
    """A turn with words as Whisper gives them: a leading space, punctuation stuck to the word."""
    parts = text.split()
    words = [Word(" " + w, round(start + 0.37 * i, 3), round(start + 0.37 * i + 0.31, 3), 0.9, role)
             for i, w in enumerate(parts)]
    return Turn(role, Role(role), start, words[-1].end, text, words)


def call(lang: str, shift: float = 0.0) -> Transcript:
    turns, start = [], shift
    for role, text in LINES[lang]:
        turns.append(whisper_turn(role, start, text))
        start = turns[-1].end + 1.5
    return Transcript(turns=turns, language=lang, duration=start + 2.0, channels=2)


@pytest.fixture
def stub():
    meaning.set_embedder(StubEmbedder(), "stub")
    yield
    meaning.set_embedder(None)


def test_a_span_of_tokens_gets_the_seconds_its_characters_get(stub):
    for lang in LINES:
        text = CallText(call(lang))
        for turn, tokens in zip(text.transcript.turns, text.tokens):
            n = len(tokens.starts)
            for a in range(n):
                for b in range(a + 1, min(n, a + 6) + 1):
                    assert token_span_times(turn, tokens, a, b) == _span_times(turn, tokens.starts[a], tokens.ends[b - 1])
    no_words = Turn("agent", Role.AGENT, 1.23456, 2.5, "Have a nice day")
    tokens = calltext.analyse_turns([no_words], "en")[0]
    assert tokens.times is None and token_span_times(no_words, tokens, 0, 2) == _span_times(no_words, 0, 6)


def test_tokens_survive_the_round_trip_through_the_store_format(stub):
    for lang in LINES:
        for tokens in CallText(call(lang)).tokens:
            again = TurnTokens.loads(tokens.dumps())
            assert [list(x) for x in (again.starts, again.ends, again.lemmas, again.norms, again.free)] == \
                   [list(x) for x in (tokens.starts, tokens.ends, tokens.lemmas, tokens.norms, tokens.free)]
            assert [t and tuple(t) for t in again.times] == [t and tuple(t) for t in tokens.times]


def store(db, calls: dict[str, Transcript], rubric) -> None:
    with Store(db) as s:
        scoring = CallScoring(s, rubric, RUBRIC)
        for call_id, transcript in calls.items():
            outcome = scoring.score(CallRecord(call_id=call_id, file=f"{call_id}.wav", content_hash=call_id),
                                    transcript, redact=False)
            assert outcome.status == "scored", outcome.reason


def results(db, rubric_hash: str) -> dict:
    with Store(db, read_only=True) as s:
        rows = s.criterion_results(rubric_hash, s.stored_call_ids())
    return {call_id: [(r["criterion_id"], r["outcome"], r["note"],
                       [(e["quote"], e["start_s"], e["end_s"]) for e in r["evidence"]]) for r in found]
            for call_id, found in rows.items()}


def test_rescoring_reads_the_stored_analysis_and_scores_as_a_full_scoring_does(tmp_path, stub, monkeypatch):
    calls = {f"{lang}-{i}": call(lang, shift=7.0 * i) for lang in LINES for i in range(3)}
    store(tmp_path / "qa.duckdb", calls, parse_rubric(RUBRIC, "first"))
    newer_text = RUBRIC.replace("last_seconds: 60", "last_seconds: 30")
    newer = parse_rubric(newer_text, "newer")
    analysed = []
    real = calltext.analyse
    monkeypatch.setattr(calltext, "analyse", lambda texts, lang: analysed.append(lang) or real(texts, lang))
    with Store(tmp_path / "qa.duckdb") as s:
        result = rescore(s, newer, newer_text)
    assert (result.scored, result.failed) == (len(calls), 0)
    assert analysed == []  # no text was tokenised again
    fresh = RubricScorer(newer)
    got = results(tmp_path / "qa.duckdb", newer.content_hash)
    for call_id, transcript in calls.items():
        card = fresh.score(transcript)
        assert got[call_id] == [(r.criterion_id, r.outcome.value, r.note,
                                 [(e.quote, e.start, e.end) for e in r.evidence]) for r in card.results], call_id
    assert any(ev for rows in got.values() for _, _, _, ev in rows)  # evidence was compared, not just outcomes


def test_a_call_stored_without_its_analysis_is_analysed_once_and_keeps_it(tmp_path, stub, monkeypatch):
    rubric = parse_rubric(RUBRIC, "first")
    with Store(tmp_path / "qa.duckdb") as s:  # as before schema version 10: no tokens
        s.save_call(CallRecord(call_id="old", file="old.wav", content_hash="h"), call("en"), None)
        assert s.load_calls(tokens=True)[0].tokens is None
    analysed = []
    real = calltext.analyse
    monkeypatch.setattr(calltext, "analyse", lambda texts, lang: analysed.append(lang) or real(texts, lang))
    with Store(tmp_path / "qa.duckdb") as s:
        rescore(s, rubric, RUBRIC)
        stored = s.load_calls(tokens=True)[0].tokens
        assert analysed == ["en"] and stored.analyser == analyser_id() and len(stored.turns) == 4
        rescore(s, rubric, RUBRIC, force=True)
    assert analysed == ["en"]  # the second rescoring read what the first stored


def test_an_analysis_by_another_analyser_is_made_again(tmp_path, stub, monkeypatch):
    rubric = parse_rubric(RUBRIC, "first")
    store(tmp_path / "qa.duckdb", {"c": call("ru")}, rubric)
    monkeypatch.setattr("qa.scoring_service.analyser_id", lambda: "tokens-99/other")
    monkeypatch.setattr("scoring.text.analyser_id", lambda: "tokens-99/other")
    with Store(tmp_path / "qa.duckdb") as s:
        rescore(s, rubric, RUBRIC, force=True)
        assert s.load_calls(tokens=True)[0].tokens.analyser == "tokens-99/other"


def test_rescoring_in_worker_processes_stores_what_one_process_stores(tmp_path, stub):
    calls = {f"{lang}-{i:02d}": call(lang, shift=3.0 * i) for lang in LINES for i in range(12)}
    rubric = parse_rubric(RUBRIC, "first")
    newer_text = RUBRIC.replace("last_seconds: 60", "last_seconds: 20")
    newer = parse_rubric(newer_text, "newer")
    for name, workers in (("one", 1), ("pool", 2)):
        store(tmp_path / f"{name}.duckdb", calls, rubric)
        with Store(tmp_path / f"{name}.duckdb") as s:
            progress = []
            result = rescore(s, newer, newer_text, workers=workers, page=10, on_progress=lambda d, n: progress.append(d))
        assert (result.scored, result.failed) == (len(calls), 0)
        assert progress == [10, 20, 30, 36]
    assert results(tmp_path / "pool.duckdb", newer.content_hash) == results(tmp_path / "one.duckdb", newer.content_hash)


def _dies_in_a_worker(fetched, scorer=None):
    if scorer is None:  # in a worker process: killed, as the out-of-memory killer would
        os._exit(9)
    return _score_slice(fetched, scorer)


def test_when_a_worker_process_dies_its_calls_are_scored_in_this_process(tmp_path, stub, monkeypatch):
    monkeypatch.setattr(rescoring, "_score_slice", _dies_in_a_worker)
    calls = {f"en-{i:02d}": call("en", shift=2.0 * i) for i in range(12)}
    rubric = parse_rubric(RUBRIC, "first")
    newer_text = RUBRIC.replace("last_seconds: 60", "last_seconds: 20")
    newer = parse_rubric(newer_text, "newer")
    store(tmp_path / "qa.duckdb", calls, rubric)
    with Store(tmp_path / "qa.duckdb") as s:
        result = rescore(s, newer, newer_text, workers=2, page=5)
    assert (result.scored, result.failed) == (12, 0)
    assert len(results(tmp_path / "qa.duckdb", newer.content_hash)) == 12
