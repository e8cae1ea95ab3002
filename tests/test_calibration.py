"""qa.calibration: agreement statistics checked against values computed by hand."""

import pytest

from qa.calibration import (Agreement, HumanAnswer, MachineHumanRow, agreement, human_vs_human,
                            machine_vs_human, machine_vs_human_by_version, needs_review)

PP, FF, NN = ("pass", "pass"), ("fail", "fail"), ("na", "na")
PF, FP = ("pass", "fail"), ("fail", "pass")


def test_perfect_agreement():
    stat = agreement([PP] * 10 + [FF] * 5 + [NN] * 5)
    assert stat.n == 20 and stat.enough
    assert stat.raw == 1.0
    assert stat.kappa == pytest.approx(1.0)
    # π = pass 0.5, fail 0.25, na 0.25; Σπ(1-π) = 0.25 + 0.1875 + 0.1875 = 0.625;
    # p_e = 0.625 / (3-1) = 0.3125; AC1 = (1 - 0.3125) / (1 - 0.3125) = 1
    assert stat.ac1 == pytest.approx(1.0)
    assert stat.prevalence == {"pass": 0.5, "fail": 0.25, "na": 0.25}
    assert stat.confusion[("pass", "pass")] == 10 and stat.confusion[("pass", "fail")] == 0


def test_kappa_paradox_dominant_answer():
    # 100 calls: 95 both pass, 3 machine pass / human fail, 2 machine fail / human pass.
    stat = agreement([PP] * 95 + [PF] * 3 + [FP] * 2)
    # raw = 95 / 100 = 0.95
    assert stat.raw == pytest.approx(0.95)
    # rater a: pass 0.98, fail 0.02; rater b: pass 0.97, fail 0.03
    # kappa p_e = 0.98·0.97 + 0.02·0.03 = 0.9506 + 0.0006 = 0.9512
    # kappa = (0.95 - 0.9512) / (1 - 0.9512) = -0.0012 / 0.0488 = -0.02459
    assert stat.kappa == pytest.approx(-0.0012 / 0.0488)
    assert round(stat.kappa, 3) == -0.025
    # π_pass = (0.98 + 0.97) / 2 = 0.975, π_fail = 0.025, π_na = 0
    # Σπ(1-π) = 2 · 0.975 · 0.025 = 0.04875; p_e = 0.04875 / (3-1) = 0.024375
    # AC1 = (0.95 - 0.024375) / (1 - 0.024375) = 0.925625 / 0.975625 = 0.94875
    assert stat.ac1 == pytest.approx(0.925625 / 0.975625)
    assert round(stat.ac1, 3) == 0.949
    assert stat.prevalence == pytest.approx({"pass": 0.975, "fail": 0.025, "na": 0.0})


def test_textbook_two_by_two():
    # 50 items: 20 both pass, 5 a pass/b fail, 10 a fail/b pass, 15 both fail.
    pairs = [PP] * 20 + [PF] * 5 + [FP] * 10 + [FF] * 15
    stat = agreement(pairs, categories=("pass", "fail"))
    # raw = (20 + 15) / 50 = 0.7
    assert stat.raw == pytest.approx(0.7)
    # a: pass 25/50 = 0.5; b: pass 30/50 = 0.6
    # kappa p_e = 0.5·0.6 + 0.5·0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    assert stat.kappa == pytest.approx(0.4)
    # π_pass = 0.55, π_fail = 0.45; p_e = (2 · 0.55 · 0.45) / (2-1) = 0.495
    # AC1 = (0.7 - 0.495) / (1 - 0.495) = 0.205 / 0.505 = 0.40594
    assert stat.ac1 == pytest.approx(0.205 / 0.505)
    assert round(stat.ac1, 3) == 0.406
    assert stat.confusion == {("pass", "pass"): 20, ("pass", "fail"): 5,
                              ("fail", "pass"): 10, ("fail", "fail"): 15}
    assert stat.n == 50 and stat.enough


def test_q_counts_all_given_categories():
    pairs = [PP] * 20 + [PF] * 5 + [FP] * 10 + [FF] * 15
    # same pairs with the default three categories: p_e = 0.495 / (3-1) = 0.2475
    # AC1 = (0.7 - 0.2475) / (1 - 0.2475) = 0.4525 / 0.7525 = 0.60133; kappa unchanged
    stat = agreement(pairs)
    assert stat.ac1 == pytest.approx(0.4525 / 0.7525)
    assert stat.kappa == pytest.approx(0.4)


def test_na_is_its_own_category():
    pairs = [PP] * 4 + [FF] * 2 + [NN] * 2 + [("pass", "na")] + [("na", "fail")]
    stat = agreement(pairs)
    # raw = (4 + 2 + 2) / 10 = 0.8  (both-N/A counts as agreement)
    assert stat.raw == pytest.approx(0.8)
    # a: pass 0.5, fail 0.2, na 0.3; b: pass 0.4, fail 0.3, na 0.3
    # kappa p_e = 0.5·0.4 + 0.2·0.3 + 0.3·0.3 = 0.35; kappa = 0.45 / 0.65 = 0.69231
    assert stat.kappa == pytest.approx(0.45 / 0.65)
    # π: pass 9/20 = 0.45, fail 5/20 = 0.25, na 6/20 = 0.3
    # Σπ(1-π) = 0.2475 + 0.1875 + 0.21 = 0.645; p_e = 0.3225
    # AC1 = (0.8 - 0.3225) / (1 - 0.3225) = 0.4775 / 0.6775 = 0.70480
    assert stat.ac1 == pytest.approx(0.4775 / 0.6775)
    assert round(stat.ac1, 3) == 0.705
    assert stat.prevalence == pytest.approx({"pass": 0.45, "fail": 0.25, "na": 0.3})
    assert stat.confusion[("pass", "na")] == 1 and stat.confusion[("na", "fail")] == 1
    assert len(stat.confusion) == 9


def test_undefined_kappa_is_none():
    stat = agreement([PP] * 25)
    # both raters always "pass": kappa p_e = 1, kappa = 0/0 -> None
    assert stat.kappa is None
    # π_pass = 1: Σπ(1-π) = 0, p_e = 0, AC1 = (1 - 0) / (1 - 0) = 1
    assert stat.raw == 1.0 and stat.ac1 == 1.0


def test_no_pairs():
    stat = agreement([])
    assert stat == Agreement(0, None, None, None, {"pass": 0.0, "fail": 0.0, "na": 0.0},
                             {(a, b): 0 for a in ("pass", "fail", "na") for b in ("pass", "fail", "na")},
                             False)


def test_unknown_answer_and_bad_categories_rejected():
    with pytest.raises(ValueError, match="maybe"):
        agreement([("pass", "maybe")])
    with pytest.raises(ValueError):
        agreement([PP], categories=("pass",))
    with pytest.raises(ValueError):
        agreement([PP], categories=("pass", "pass"))


def test_min_n():
    assert not agreement([PP] * 19).enough
    assert agreement([PP] * 20).enough
    assert agreement([PP] * 5, min_n=5).enough
    assert not agreement([PP] * 4, min_n=5).enough


def test_machine_vs_human_per_criterion():
    rows = ([MachineHumanRow("greeting", "pass", "pass")] * 3
            + [MachineHumanRow("greeting", "pass", "fail")]
            + [MachineHumanRow("empathy", "fail", "fail")] * 2)
    stats = machine_vs_human(rows, min_n=3)
    assert set(stats) == {"greeting", "empathy"}
    # greeting: raw 3/4; machine is rater a
    assert stats["greeting"].raw == pytest.approx(0.75)
    assert stats["greeting"].confusion[("pass", "fail")] == 1
    assert stats["greeting"].confusion[("fail", "pass")] == 0
    assert stats["greeting"].enough and not stats["empathy"].enough


def test_machine_vs_human_by_version():
    rows = [MachineHumanRow("greeting", "pass", "pass", "v1"),
            MachineHumanRow("greeting", "pass", "fail", "v2"),
            MachineHumanRow("greeting", "fail", "fail", "v2"),
            MachineHumanRow("greeting", "na", "na")]
    stats = machine_vs_human_by_version(rows)
    assert set(stats) == {("v1", "greeting"), ("v2", "greeting"), (None, "greeting")}
    assert stats[("v1", "greeting")].raw == 1.0
    assert stats[("v2", "greeting")].raw == 0.5
    assert stats[("v2", "greeting")].n == 2
    assert machine_vs_human(rows)["greeting"].n == 4


def test_human_vs_human_three_reviewers_three_pairs():
    rows = [HumanAnswer("c1", "empathy", "bob", "pass"),
            HumanAnswer("c1", "empathy", "cat", "fail"),
            HumanAnswer("c1", "empathy", "ann", "pass"),
            HumanAnswer("c2", "empathy", "ann", "na"),          # alone on c2: no pair
            HumanAnswer("c1", "greeting", "ann", "pass"),
            HumanAnswer("c1", "greeting", "bob", "pass")]
    stats = human_vs_human(rows, min_n=3)
    emp = stats["empathy"]
    # pairs (rater a sorts first): ann-bob (pass, pass), ann-cat (pass, fail), bob-cat (pass, fail)
    assert emp.n == 3 and emp.enough
    assert emp.raw == pytest.approx(1 / 3)
    assert emp.confusion[("pass", "pass")] == 1 and emp.confusion[("pass", "fail")] == 2
    # answers: pass ×4, fail ×2 of 6 -> prevalence; na unused
    assert emp.prevalence == pytest.approx({"pass": 4 / 6, "fail": 2 / 6, "na": 0.0})
    # π_pass = 2/3, π_fail = 1/3: Σπ(1-π) = 2·(2/9) = 4/9; p_e = 2/9
    # AC1 = (1/3 - 2/9) / (1 - 2/9) = (1/9) / (7/9) = 1/7
    assert emp.ac1 == pytest.approx(1 / 7)
    assert stats["greeting"].n == 1 and not stats["greeting"].enough


def test_human_vs_human_is_input_order_independent():
    rows = [HumanAnswer("c1", "x", "bob", "pass"), HumanAnswer("c1", "x", "ann", "fail"),
            HumanAnswer("c2", "x", "ann", "pass"), HumanAnswer("c2", "x", "bob", "pass")]
    assert human_vs_human(rows) == human_vs_human(list(reversed(rows)))


def test_human_vs_human_duplicate_answer_rejected():
    rows = [HumanAnswer("c1", "x", "ann", "pass"), HumanAnswer("c1", "x", "ann", "fail")]
    with pytest.raises(ValueError, match="more than once"):
        human_vs_human(rows)


def test_needs_review_gate():
    good = agreement([PP] * 95 + [PF] * 3 + [FP] * 2)         # AC1 0.949, kappa -0.025
    weak = agreement([PP] * 20 + [PF] * 5 + [FP] * 10 + [FF] * 15, categories=("pass", "fail"))  # AC1 0.406
    few = agreement([PP] * 5)
    stats = {"greeting": good, "empathy": weak, "closing": few}
    flagged = needs_review(stats)
    assert set(flagged) == {"empathy", "closing"}
    assert flagged["empathy"] == "AC1 0.41 below 0.6"
    assert flagged["closing"] == "only 5 pairs, too few to judge"
    # a kappa gate also catches the paradoxical but well-agreeing criterion
    assert set(needs_review(stats, gate_kappa=0.4)) == {"greeting", "empathy", "closing"}
    assert needs_review(stats, gate_kappa=0.4)["greeting"] == "kappa -0.02 below 0.4"
    assert set(needs_review(stats, gate_ac1=0.3)) == {"closing"}


def test_needs_review_undefined_kappa_passes_kappa_gate():
    stats = {("v1", "greeting"): agreement([PP] * 25)}
    assert needs_review(stats, gate_kappa=0.6) == {}
