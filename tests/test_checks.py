"""Each check kind on its own: a passing and a failing case, and N/A where it applies."""
from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from qa_types import Outcome
from scoring import RubricScorer, parse_rubric
from scoring.checks import Check
from tests.builders import transcript

RUBRIC = parse_rubric("""
id: checks
name: checks
settings: {hold_request: $hold}
phrase_sets:
  hello: {en: ["thank you for calling"]}
  hold: {en: ["may I put you on hold"]}
  thanks: {en: ["thank you for holding"]}
  sorry: {en: ["I am sorry"]}
sections: [{id: s, criteria: [{id: c, check: {phrases: $hello}}]}]
""")
CALL = transcript([
    ("agent", 0.5, 3.0, "Thank you for calling, how can I help?"),
    ("customer", 3.5, 6.0, "My card is blocked."),
    ("agent", 6.5, 8.0, "May I put you on hold?"),
    ("customer", 8.2, 8.6, "Sure."),
    ("agent", 40.0, 42.0, "Thank you for holding, it works now."),
    ("customer", 41.5, 43.0, "Great, thanks."),
], duration=44.0)


def outcome(check: dict, call=CALL) -> Outcome:
    parsed = TypeAdapter(Check).validate_python(check)
    return parsed.evaluate(RubricScorer(RUBRIC).context(call)).outcome


@pytest.mark.parametrize("check, expected", [
    ({"phrases": "$hello"}, Outcome.PASS),
    ({"phrases": "$hello", "speaker": "customer"}, Outcome.FAIL),
    ({"phrases": "$hello", "within": {"first_turns": 1}}, Outcome.PASS),
    ({"phrases": "$thanks", "within": {"first_turns": 2}}, Outcome.FAIL),
    ({"phrases": "$thanks", "within": {"last_seconds": 5}}, Outcome.PASS),
    ({"phrases": "$hold", "within": {"before_event": "hold", "seconds": 10}}, Outcome.PASS),
    ({"phrases": "$thanks", "within": {"after_event": "hold", "seconds": 5}}, Outcome.PASS),
    ({"phrases": {"fr": ["bonjour"]}}, Outcome.NA),
    ({"absent": "$sorry"}, Outcome.PASS),
    ({"absent": "$hello"}, Outcome.FAIL),
    ({"event": "hold"}, Outcome.PASS),
    ({"event": "hold", "min_count": 2}, Outcome.FAIL),
    ({"sequence": [{"phrases": "$hold"}, {"event": "hold"}, {"phrases": "$thanks"}]}, Outcome.PASS),
    ({"sequence": [{"phrases": "$thanks"}, {"phrases": "$hold"}]}, Outcome.FAIL),
    ({"metric": "longest_hold_s", "max": 60}, Outcome.PASS),
    ({"metric": "longest_hold_s", "max": 20}, Outcome.FAIL),
    ({"metric": "overtalk_count", "min": 1, "max": 1}, Outcome.PASS),
    ({"all": [{"phrases": "$hello"}, {"event": "hold"}]}, Outcome.PASS),
    ({"all": [{"phrases": "$hello"}, {"phrases": "$sorry"}]}, Outcome.FAIL),
    ({"any": [{"phrases": "$sorry"}, {"phrases": "$hello"}]}, Outcome.PASS),
    ({"any": [{"phrases": "$sorry"}, {"phrases": {"fr": ["x"]}}]}, Outcome.FAIL),
    ({"not": {"phrases": "$sorry"}}, Outcome.PASS),
    ({"not": {"phrases": "$hello"}}, Outcome.FAIL),
    ({"not": {"phrases": {"fr": ["x"]}}}, Outcome.NA),
])
def test_check_kinds(check, expected):
    assert outcome(check) == expected


def test_metric_na_without_customer_speech():
    agent_only = transcript([("agent", 0.5, 3.0, "Thank you for calling.")])
    assert outcome({"metric": "talk_to_listen", "max": 3}, agent_only) == Outcome.NA


@pytest.mark.parametrize("check, message", [
    ({"phrases": "$hello", "absent": "$sorry"}, "exactly one of"),
    ({"metric": "loudness", "max": 3}, "unknown metric 'loudness'"),
    ({"metric": "dead_air_s"}, "give min, max or both"),
    ({"phrases": "$hello", "within": {"first_seconds": 5, "last_seconds": 5}}, "give exactly one of"),
    ({"metric": "dead_air_s", "min": 30, "max": 10}, "min 30 is above max 10"),
    ({"metric": "dead_air_s", "max": float("inf")}, "finite number"),
    ({"metric": "dead_air_s", "min": float("nan")}, "finite number"),
    ({"metric": "dead_air_s", "min": -1}, "greater than or equal to 0"),
    ({"phrases": "$hello", "within": {"last_seconds": float("inf")}}, "finite number"),
    ({"phrases": {"en": ["hi", 3]}}, "a phrase must be text, got a number"),
    ({"phrases": {"en": ["hi", {"$set": "x"}]}}, "a phrase must be text, got a mapping"),
    ({"absent": {"en": ["!!!"]}}, "no letters or digits"),
    ({"phrases": {"en": ["$hello"]}}, "is a phrase set reference"),
    ({"phrases": 7}, "give \\$name of a phrase set"),
    ({"sequence": [{"phrases": {"en": ["ok", None]}}, {"event": "hold"}]}, "a phrase must be text, got nothing"),
    ({"sequence": [{"colour": "red"}, {"event": "hold"}]}, "a sequence step needs exactly one of: phrases, event"),
])
def test_invalid_checks_are_rejected(check, message):
    with pytest.raises(ValidationError, match=message):
        TypeAdapter(Check).validate_python(check)


def test_absent_is_exact_by_default():
    call = transcript([("agent", 0.5, 3.0, "Siparişinizi iptal edebilirim.")], language="tr")
    rubric = parse_rubric("""
id: tr
name: tr
phrase_sets: {rude: {tr: ["aptal"]}}
sections: [{id: s, criteria: [{id: c, check: {absent: $rude}}]}]
""")
    ctx = RubricScorer(rubric).context(call)
    assert TypeAdapter(Check).validate_python({"absent": "$rude"}).evaluate(ctx).outcome == Outcome.PASS
    assert TypeAdapter(Check).validate_python({"absent": "$rude", "fuzzy": True}).evaluate(ctx).outcome == Outcome.FAIL
