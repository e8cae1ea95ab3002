"""qa.sampling: which calls the QA team reviews."""

import random
from datetime import date, datetime

import pytest

from qa.sampling import CallRow, Pick, period_label, sample

DAY = date(2026, 11, 24)   # Tuesday of ISO week 2026-W48


def call(call_id, agent="ann", when=DAY, score=95.0, auto_failed=False, pass_mark=80.0, outcomes=None):
    passed = None if score is None or pass_mark is None else (not auto_failed and score >= pass_mark)
    return CallRow(call_id, agent, when, score, passed, auto_failed, pass_mark, outcomes or {})


def plain(n, agent="ann", when=DAY, prefix=None):
    """n calls far from the pass mark, nothing uncertain: tier "random"."""
    prefix = prefix or agent
    return [call(f"{prefix}-{i:02d}", agent, when) for i in range(n)]


def ids(picks):
    return [p.call_id for p in picks]


# --- periods ---------------------------------------------------------------------------------

def test_period_labels():
    assert period_label(date(2026, 11, 28), "day") == "2026-11-28"
    assert period_label(date(2026, 11, 28), "week") == "2026-W48"
    assert period_label(date(2026, 11, 28), "month") == "2026-11"
    assert period_label(datetime(2026, 11, 28, 23, 59), "week") == "2026-W48"
    # ISO weeks run Monday to Sunday and belong to the ISO year
    assert period_label(date(2026, 11, 22), "week") == "2026-W47"     # Sunday
    assert period_label(date(2026, 11, 23), "week") == "2026-W48"     # Monday
    assert period_label(date(2027, 1, 1), "week") == "2026-W53"
    assert period_label(date(2025, 12, 29), "week") == "2026-W01"
    assert period_label(date(2026, 3, 5), "month") == "2026-03"
    with pytest.raises(ValueError):
        period_label(DAY, "year")


def test_caps_per_agent_per_period():
    calls = (plain(5, "ann", date(2026, 11, 23)) + plain(5, "ann", date(2026, 11, 30), "ann-next")
             + plain(2, "bob", date(2026, 11, 24)))
    picks = sample(calls, per_agent=3, period="week", seed=1)
    groups = {}
    for p in picks:
        groups.setdefault((p.agent, p.period), []).append(p.call_id)
    assert {k: len(v) for k, v in groups.items()} == {("ann", "2026-W48"): 3, ("ann", "2026-W49"): 3,
                                                      ("bob", "2026-W48"): 2}
    assert all(c.startswith("ann-next") for c in groups[("ann", "2026-W49")])
    # result ordered by agent, then period
    assert [(p.agent, p.period) for p in picks] == sorted((p.agent, p.period) for p in picks)


def test_periods_day_and_month():
    calls = [call("a", when=date(2026, 11, 23)), call("b", when=date(2026, 11, 24)),
             call("c", when=datetime(2026, 12, 1, 9, 30))]
    by_day = sample(calls, per_agent=1, period="day", seed=0)
    assert [(p.call_id, p.period) for p in by_day] == [("a", "2026-11-23"), ("b", "2026-11-24"),
                                                        ("c", "2026-12-01")]
    by_month = sample(calls, per_agent=5, period="month", seed=0)
    assert sorted((p.call_id, p.period) for p in by_month) == [("a", "2026-11"), ("b", "2026-11"),
                                                                ("c", "2026-12")]
    assert len(sample(calls, per_agent=1, period="month", seed=0)) == 2


def test_unknown_period_and_negative_cap_rejected():
    with pytest.raises(ValueError):
        sample(plain(1), per_agent=1, period="year", seed=0)
    with pytest.raises(ValueError):
        sample(plain(1), per_agent=-1, period="day", seed=0)
    assert sample(plain(3), per_agent=0, period="day", seed=0) == []


# --- reproducibility -------------------------------------------------------------------------

def test_same_input_and_seed_same_picks():
    calls = plain(30)
    first = sample(calls, per_agent=5, period="week", seed=42)
    assert first == sample(calls, per_agent=5, period="week", seed=42)
    assert len(first) == 5


def test_seed_changes_random_picks():
    calls = plain(30)
    picks = {tuple(ids(sample(calls, per_agent=5, period="week", seed=s))) for s in range(5)}
    assert len(picks) > 1


def test_input_order_independent():
    calls = plain(20) + plain(20, "bob") + [call("af", auto_failed=True, score=0.0),
                                            call("near", score=78.0)]
    expected = sample(calls, per_agent=4, period="week", seed=7, uncertain_criteria={"empathy"})
    for shuffle_seed in range(5):
        shuffled = calls[:]
        random.Random(shuffle_seed).shuffle(shuffled)
        assert sample(shuffled, per_agent=4, period="week", seed=7,
                      uncertain_criteria={"empathy"}) == expected


def test_other_calls_do_not_reshuffle_an_agents_picks():
    ann = plain(20)
    alone = sample(ann, per_agent=5, period="week", seed=3)
    assert sample(ann + plain(20, "bob"), per_agent=5, period="week", seed=3)[:5] == alone


# --- priority --------------------------------------------------------------------------------

def test_priority_order_and_reasons():
    calls = [call("rand-1"), call("rand-2"),
             call("unc", outcomes={"empathy": "fail", "greeting": "pass"}),
             call("near-low", score=78.0),
             call("near-high", score=85.0),            # 5 above the mark: inside the margin
             call("af", score=0.0, auto_failed=True)]
    picks = sample(calls, per_agent=10, period="week", seed=0, uncertain_criteria={"empathy"})
    assert picks[0] == Pick("af", "ann", "2026-W48", "auto-fail")
    assert {p.call_id for p in picks[1:3]} == {"near-low", "near-high"}
    reasons = {p.call_id: p.reason for p in picks}
    assert reasons["near-low"] == "score 78.0 near pass mark 80"
    assert reasons["near-high"] == "score 85.0 near pass mark 80"
    assert picks[3] == Pick("unc", "ann", "2026-W48", "criterion empathy needs calibration")
    assert {p.call_id for p in picks[4:]} == {"rand-1", "rand-2"}
    assert {p.reason for p in picks[4:]} == {"random"}


def test_higher_tiers_fill_the_cap_first():
    calls = plain(10) + [call("af", score=10.0, auto_failed=True), call("near", score=82.5)]
    for seed in range(5):
        assert ids(sample(calls, per_agent=2, period="week", seed=seed)) == ["af", "near"]


def test_auto_fail_outranks_near_pass_score():
    picks = sample([call("x", score=79.0, auto_failed=True)], per_agent=1, period="day", seed=0)
    assert picks[0].reason == "auto-fail"


def test_near_pass_margin():
    calls = [call("in", score=74.0), call("out", score=73.9), call("edge", score=85.0)]
    reasons = {p.call_id: p.reason for p in sample(calls, per_agent=5, period="day", seed=0,
                                                    near_pass_margin=6.0)}
    assert reasons == {"in": "score 74.0 near pass mark 80", "out": "random",
                       "edge": "score 85.0 near pass mark 80"}
    narrow = {p.call_id: p.reason for p in sample(calls, per_agent=5, period="day", seed=0,
                                                   near_pass_margin=1.0)}
    assert set(narrow.values()) == {"random"}


def test_unscored_call_is_not_near_pass():
    picks = sample([call("x", score=None), call("y", pass_mark=None)], per_agent=5, period="day", seed=0)
    assert {p.reason for p in picks} == {"random"}


def test_uncertain_criterion_must_be_decided():
    calls = [call("na-only", outcomes={"empathy": "na"}),
             call("passed", outcomes={"empathy": "pass"}),
             call("two", outcomes={"empathy": "fail", "closing": "pass", "greeting": "pass"})]
    reasons = {p.call_id: p.reason for p in sample(calls, per_agent=5, period="day", seed=0,
                                                    uncertain_criteria={"empathy", "closing"})}
    assert reasons == {"na-only": "random", "passed": "criterion empathy needs calibration",
                       "two": "criteria closing, empathy need calibration"}


# --- reviewed, agents, duplicates ------------------------------------------------------------

def test_reviewed_calls_skipped():
    calls = [call("af", auto_failed=True, score=0.0)] + plain(3)
    picks = sample(calls, per_agent=2, period="week", seed=0, reviewed={"af", "ann-00"})
    assert ids(picks) and not {"af", "ann-00"} & set(ids(picks))
    assert sorted(ids(picks)) == ["ann-01", "ann-02"]


def test_calls_without_agent_grouped_last():
    calls = [call("x", agent=None), call("y", agent="zed")]
    assert [(p.call_id, p.agent) for p in sample(calls, per_agent=1, period="day", seed=0)] == \
        [("y", "zed"), ("x", None)]


def test_duplicate_call_id_rejected():
    with pytest.raises(ValueError, match="more than once"):
        sample([call("x"), call("x")], per_agent=1, period="day", seed=0)
