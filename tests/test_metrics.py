"""Call metrics on a constructed call with known timings, exact to 0.1 s, and the metric
registry (scoring.metrics): names, units, values, evidence spans, stored records, new metrics."""
from __future__ import annotations

import pytest

from scoring import RubricScorer
from scoring.metrics import compute_metrics
from tests.builders import transcript

# Timeline (seconds):
#   0-10 agent greets; 9-12 customer (1 s overtalk at 9-10); 18-25 agent (6 s dead air 12-18);
#   24-30 customer (1 s overtalk 24-25; agent interrupted? no: customer starts during agent)
#   30.5-32 agent asks to hold; hold 32-122 (90 s of silence); 122-126 agent thanks;
#   125-127 customer (overtalk 125-126); 126.2-130 agent starts while customer talks (interruption)
CALL = [
    ("agent", 0.0, 10.0, "thank you for calling how can I help you today it is a fine day"),
    ("customer", 9.0, 12.0, "my card does not work"),
    ("agent", 18.0, 25.0, "let me look at that for you now"),
    ("customer", 24.0, 30.0, "thanks it was blocked yesterday"),
    ("agent", 30.5, 32.0, "may I put you on hold"),
    ("agent", 122.0, 126.0, "thank you for holding it is unblocked"),
    ("customer", 125.0, 127.0, "oh great"),
    ("agent", 126.2, 130.0, "anything else today"),
]


@pytest.fixture(scope="module")
def metrics(inbound_rubric):
    return RubricScorer(inbound_rubric).score(transcript(CALL, duration=131.0)).metrics


def test_talk_time_and_ratio(metrics):
    # agent: 0-10, 18-25, 30.5-32, 122-126, 126.2-130 -> 10 + 7 + 1.5 + 4 + 3.8 = 26.3
    assert metrics.talk_s["agent"] == pytest.approx(26.3, abs=0.1)
    # customer: 9-12, 24-30, 125-127 -> 3 + 6 + 2 = 11
    assert metrics.talk_s["customer"] == pytest.approx(11.0, abs=0.1)
    assert metrics.talk_to_listen == pytest.approx(26.3 / 11.0, abs=0.01)
    assert metrics.duration_s == pytest.approx(131.0)


def test_hold_of_90_seconds(metrics):
    assert metrics.holds == [(32.0, 122.0)]
    assert metrics.longest_hold_s == pytest.approx(90.0, abs=0.1)


def test_dead_air_excludes_the_hold(metrics):
    assert metrics.dead_air == [(12.0, 18.0)]
    assert metrics.dead_air_s == pytest.approx(6.0, abs=0.1)


def test_overtalk_periods(metrics):
    assert metrics.overtalk == [(9.0, 10.0), (24.0, 25.0), (125.0, 126.0), (126.2, 127.0)]
    assert metrics.overtalk_s == pytest.approx(3.8, abs=0.1)
    assert metrics.overtalk_count == 4


def test_interruptions_and_monologue(metrics):
    # Agent turns starting inside a customer turn: 126.2 (customer 125-127), overlapping 0.8 s.
    assert metrics.agent_interruptions == 1
    # Longest agent run without customer speech in between: 0-10 (the customer starts inside it).
    assert metrics.longest_agent_monologue_s == pytest.approx(10.0, abs=0.1)


def test_speech_rate(metrics):
    agent_words = sum(len(t[3].split()) for t in CALL if t[0] == "agent")
    assert metrics.words_per_minute["agent"] == pytest.approx(60 * agent_words / 26.3, abs=0.1)


def test_unannounced_silence_is_a_hold_not_dead_air():
    t = transcript([("agent", 0, 5, "hello there"), ("agent", 20, 25, "right, done")], duration=26)
    m = compute_metrics(t, holds=[(5.0, 20.0)])
    assert m.dead_air == [] and m.longest_hold_s == 15.0


# --- the metric registry: one definition per metric (scoring.metrics) ---

from qa_types import CallMetrics, to_plain  # noqa: E402
from scoring.metrics import (  # noqa: E402
    Metric, Reading, get_metric, measured_metric, registered_metrics, unregister_metric,
)

BUILT_IN = ["duration_s", "talk_to_listen", "dead_air_s", "overtalk_s", "overtalk_count", "hold_count",
            "longest_hold_s", "longest_agent_monologue_s", "agent_interruptions", "talk_s.agent",
            "talk_s.customer", "words_per_minute.agent", "words_per_minute.customer"]


def test_registered_metrics_in_stable_order_with_unit_and_description():
    metrics = registered_metrics()
    assert [m.name for m in metrics] == BUILT_IN
    assert all(isinstance(m, Metric) and m.unit and m.description for m in metrics)
    assert [m.name for m in registered_metrics()] == BUILT_IN  # same order every time
    assert get_metric("dead_air_s").unit == "s" and get_metric("overtalk_count").unit == "count"


def test_unknown_metric_is_a_key_error_listing_the_known_names():
    with pytest.raises(KeyError) as info:
        get_metric("loudness")
    assert "unknown metric 'loudness'" in str(info.value)
    assert all(name in str(info.value) for name in BUILT_IN)


def test_metric_values_read_the_call_metrics(metrics):
    assert get_metric("dead_air_s").value(metrics) == pytest.approx(6.0, abs=0.1)
    assert get_metric("overtalk_count").value(metrics) == 4
    assert get_metric("hold_count").value(metrics) == 1
    assert get_metric("talk_s.agent").value(metrics) == pytest.approx(26.3, abs=0.1)
    assert get_metric("agent_interruptions").value(metrics) == 1


def test_metric_spans_are_the_evidence(metrics):
    assert get_metric("dead_air_s").spans(metrics) == [(12.0, 18.0)]
    assert get_metric("overtalk_s").spans(metrics) == [(9.0, 10.0), (24.0, 25.0), (125.0, 126.0), (126.2, 127.0)]
    assert get_metric("longest_hold_s").spans(metrics) == [(32.0, 122.0)]
    assert get_metric("hold_count").spans(metrics) == [(32.0, 122.0)]
    assert get_metric("longest_agent_monologue_s").spans(metrics) == [(0.0, 10.0)]
    # The interruption: agent starts at 126.2 inside the customer's 125-127 turn.
    assert get_metric("agent_interruptions").spans(metrics) == [(126.2, 127.0)]
    assert get_metric("talk_to_listen").spans(metrics) == []
    assert get_metric("duration_s").spans(metrics) == []


def test_metrics_round_trip_through_stored_json(metrics):
    assert CallMetrics.from_plain(to_plain(metrics)) == metrics


def test_a_record_stored_before_spans_existed_still_reads():
    old = {"duration_s": 60.0, "talk_s": {"agent": 30.0}, "talk_to_listen": None, "dead_air": [[10.0, 16.0]],
           "dead_air_s": 6.0, "overtalk": [], "overtalk_s": 0.0, "holds": [], "longest_hold_s": 0.0,
           "words_per_minute": {}, "longest_agent_monologue_s": 12.0, "agent_interruptions": 0}
    m = CallMetrics.from_plain(old)
    assert get_metric("dead_air_s").spans(m) == [(10.0, 16.0)]
    assert get_metric("longest_agent_monologue_s").value(m) == 12.0
    assert get_metric("longest_agent_monologue_s").spans(m) == []
    assert get_metric("talk_to_listen").value(m) is None
    odd = CallMetrics.from_plain({"duration_s": 5.0, "talk_s": None, "holds": None, "unknown_key": 1})
    assert get_metric("talk_s.agent").value(odd) is None and get_metric("hold_count").value(odd) == 0


def test_a_measured_metric_is_one_decorated_function():
    @measured_metric("question_count", "count", "questions the agent asked", span_label="question")
    def _questions(call):
        turns = [t for t in call.transcript.turns if t.role.value == "agent" and t.text.endswith("?")]
        return Reading(len(turns), [(t.start, t.end) for t in turns])

    try:
        t = transcript([("agent", 0, 2, "how can I help?"), ("customer", 2.5, 4, "a refund"),
                        ("agent", 5, 7, "which order?")])
        m = compute_metrics(t)
        metric = get_metric("question_count")
        assert metric in registered_metrics() and metric.unit == "count"
        assert metric.value(m) == 2 and metric.spans(m) == [(0.0, 2.0), (5.0, 7.0)]
        assert metric.value(CallMetrics.from_plain(to_plain(m))) == 2   # kept in the stored record
        assert metric.value(CallMetrics(duration_s=1.0)) is None        # a call measured before it existed
    finally:
        unregister_metric("question_count")
    assert "question_count" not in [m.name for m in registered_metrics()]
