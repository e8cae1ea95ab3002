"""The rubric engine on hand-made transcripts: outcomes, N/A, auto-fail, evidence times."""
from __future__ import annotations

import pytest

from qa_types import Outcome
from scoring import RubricScorer
from tests.builders import transcript

GOOD_CALL = [
    ("agent", 0.5, 4.0, "Thank you for calling Acme, this is Alice. How can I help you today?"),
    ("customer", 4.5, 9.0, "Hi, my parcel has not arrived yet."),
    ("agent", 9.5, 14.0, "Let me check that for you. It will arrive tomorrow."),
    ("agent", 14.5, 17.0, "Does that solve your problem?"),
    ("customer", 17.5, 19.0, "Yes, thanks."),
    ("agent", 19.5, 22.0, "Is there anything else I can help with?"),
    ("customer", 22.5, 24.0, "No, that's all."),
    ("agent", 24.2, 25.5, "Have a nice day, goodbye."),
]


@pytest.fixture(scope="module")
def scorer(inbound_rubric):
    return RubricScorer(inbound_rubric)


def test_good_call_passes_with_na_for_hold_and_empathy(scorer):
    card = scorer.score(transcript(GOOD_CALL))
    outcomes = {r.criterion_id: r.outcome for r in card.results}
    assert outcomes == {
        "greeting": Outcome.PASS, "empathy": Outcome.NA, "hold_permission": Outcome.NA,
        "thanks_for_holding": Outcome.NA, "confirm_resolution": Outcome.PASS,
        "offer_more_help": Outcome.PASS, "no_abuse": Outcome.PASS, "closing": Outcome.PASS,
        "hold_length": Outcome.NA, "dead_air": Outcome.PASS,
    }
    assert card.band == "excellent"
    assert card.score == 100 and card.passed and not card.auto_failed


def test_greeting_evidence_has_word_times(scorer):
    card = scorer.score(transcript(GOOD_CALL))
    evidence = card.result("greeting").evidence
    assert [e.quote for e in evidence] == ["Thank you for calling", "How can I help"]
    # 14 words over 0.5-4.0 s: "Thank you for calling" is words 0-3, "How can I help" words 8-11.
    step = 3.5 / 14
    assert evidence[0].start == pytest.approx(0.5, abs=0.01)
    assert evidence[0].end == pytest.approx(0.5 + 4 * step, abs=0.01)
    assert evidence[1].start == pytest.approx(0.5 + 8 * step, abs=0.01)
    assert evidence[1].end == pytest.approx(0.5 + 12 * step, abs=0.01)
    assert all(e.role == "agent" for e in evidence)


def test_greeting_said_late_or_by_customer_fails(scorer):
    late = [("agent", 0.5, 3.0, "Yeah, what is it?"), ("customer", 3.5, 6.0, "Thank you for calling me back."),
            ("agent", 25.0, 28.0, "Thank you for calling.")]
    result = scorer.score(transcript(late)).result("greeting")
    assert result.outcome == Outcome.FAIL and result.points_awarded == 0
    assert result.evidence[0].kind == "window" and result.evidence[0].end == 20


def test_empathy_applies_only_when_customer_complains(scorer):
    angry = GOOD_CALL[:2] + [("customer", 9.2, 9.4, "This is unacceptable.")] + GOOD_CALL[2:]
    assert scorer.score(transcript(angry)).result("empathy").outcome == Outcome.FAIL
    sorry = angry + [("agent", 9.5, 9.6, "I'm sorry about that.")]
    assert scorer.score(transcript(sorry)).result("empathy").outcome == Outcome.PASS


def test_announced_hold_with_thanks_passes(scorer):
    call = GOOD_CALL[:3] + [
        ("agent", 14.5, 16.0, "May I put you on hold for a moment?"),
        ("customer", 16.2, 16.8, "Sure."),
        ("agent", 30.0, 32.0, "Thank you for holding."),
        ("agent", 33.0, 35.0, "Does that solve it? Anything else?"),
    ]
    card = scorer.score(transcript(call))
    assert card.result("hold_permission").outcome == Outcome.PASS
    assert card.result("thanks_for_holding").outcome == Outcome.PASS


def test_unannounced_hold_fails_both_hold_criteria(scorer):
    call = GOOD_CALL[:3] + [("agent", 27.0, 29.0, "Right, it is sorted."),
                            ("agent", 30.0, 33.0, "Does that solve it? Anything else?")]
    card = scorer.score(transcript(call))
    assert card.result("hold_permission").outcome == Outcome.FAIL
    assert card.result("thanks_for_holding").outcome == Outcome.FAIL
    assert card.score < 100


def test_abusive_agent_line_auto_fails_the_call(scorer):
    call = GOOD_CALL + [("agent", 26.5, 28.0, "Oh shut up, you idiot.")]
    card = scorer.score(transcript(call))
    result = card.result("no_abuse")
    assert result.outcome == Outcome.FAIL and result.evidence[0].quote == "shut up"
    assert card.auto_failed and card.score == 0 and not card.passed


def test_abuse_by_customer_does_not_fail_the_agent(scorer):
    call = GOOD_CALL + [("customer", 26.5, 28.0, "You idiot.")]
    assert not scorer.score(transcript(call)).auto_failed


def test_russian_inflected_forms_match_lemmas(scorer):
    call = [
        ("agent", 0.5, 4.0, "Здравствуйте, спасибо за ваш звонок. Чем могу вам помочь?"),
        ("customer", 4.5, 8.0, "Это просто безобразие, заказ не пришёл."),
        ("agent", 8.5, 11.0, "Прошу прощения за это."),
    ]
    card = scorer.score(transcript(call, language="ru"))
    assert card.result("greeting").outcome == Outcome.PASS
    assert card.result("empathy").outcome == Outcome.PASS


def test_language_without_phrases_is_na_unless_a_meaning_check_understands_it(scorer):
    card = scorer.score(transcript([("agent", 0.5, 3.0, "Bonjour, merci d'avoir appelé.")], language="fr"))
    assert card.result("no_abuse").outcome == Outcome.NA  # phrases only: nothing to look for in French
    assert "no 'fr' phrases" in card.result("no_abuse").note
    greeting = card.result("greeting")  # phrases or meaning: the examples in six languages catch French too
    assert greeting.outcome == Outcome.PASS and [e.quote for e in greeting.evidence] == [
        "Bonjour, merci d'avoir appelé."]


def test_phrase_lists_are_prepared_once_not_per_call(inbound_rubric, monkeypatch):
    """Checks ask for their phrase list on every call; the list is looked up and labelled once."""
    asked = []
    phrases = type(inbound_rubric).phrases
    monkeypatch.setattr(type(inbound_rubric), "phrases",
                        lambda self, spec, lang: asked.append((repr(spec), lang)) or phrases(self, spec, lang))
    scorer = RubricScorer(inbound_rubric)
    for _ in range(3):
        scorer.score(transcript(GOOD_CALL))
    assert asked and len(asked) == len(set(asked))
