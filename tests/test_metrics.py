"""Call metrics on a constructed call with known timings, exact to 0.1 s."""
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
