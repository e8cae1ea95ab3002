"""Agreement statistics for human review and calibration.

Two raters answering the same criterion of the same calls give pairs of answers
(``"pass"``, ``"fail"``, ``"na"``). :func:`agreement` summarises such pairs;
:func:`machine_vs_human` and :func:`human_vs_human` build the pairs from review
rows and summarise them per criterion; :func:`needs_review` says which criteria
fall below a calibration gate.

Why Gwet's AC1 is reported beside Cohen's kappa: kappa corrects the observed
agreement by the agreement expected from each rater's own answer shares. When
one answer dominates (nearly every call passes "greeting"), that expected
agreement is itself close to 1, so raters who agree on 95 of 100 calls can get
a kappa of about 0 or below — the "kappa paradox" (Feinstein & Cicchetti 1990).
AC1 (Gwet 2008) estimates chance agreement differently and stays high in that
case, so it is the better gate for skewed QA criteria; kappa is kept because it
is the statistic most readers know.

Everything here is pure Python (plus scikit-learn's kappa); no storage, no web.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import NamedTuple, TypeVar


CATEGORIES: tuple[str, ...] = ("pass", "fail", "na")
MIN_N = 20            # pairs needed before a statistic is trusted
GATE_AC1 = 0.6        # default calibration gate, see needs_review

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Agreement:
    """Agreement between two raters over ``n`` pairs of answers.

    ``raw``, ``kappa`` and ``ac1`` are None when there are no pairs; ``kappa``
    is also None when it is undefined (both raters gave one and the same
    answer throughout, so chance agreement is 1). ``prevalence`` is each
    category's share of all 2n answers; ``confusion`` counts (a, b) pairs for
    every combination of categories, zeros included. ``enough`` is n >= min_n.
    """

    n: int
    raw: float | None
    kappa: float | None
    ac1: float | None
    prevalence: dict[str, float]
    confusion: dict[tuple[str, str], int]
    enough: bool


class MachineHumanRow(NamedTuple):
    """The machine's and a reviewer's answer for one criterion of one call."""

    criterion_id: str
    machine: str
    human: str
    rubric_version: str | None = None   # e.g. the rubric hash; None when not tracked


class HumanAnswer(NamedTuple):
    """One reviewer's answer for one criterion of one call."""

    call_id: str
    criterion_id: str
    reviewer: str
    answer: str


def agreement(pairs: Iterable[tuple[str, str]], categories: Sequence[str] = CATEGORIES,
              min_n: int = MIN_N) -> Agreement:
    """Observed agreement, Cohen's kappa and Gwet's AC1 of (rater a, rater b) answer pairs.

    Every answer must be one of ``categories`` (ValueError otherwise); at least
    two categories are needed. AC1's q is the number of *given* categories,
    not the number used in these pairs: q belongs to the rating scale the
    raters chose from (as in Gwet 2008), so a criterion's AC1 does not change
    meaning with which answers a sample happens to contain, and AC1 stays
    defined when every answer is the same (q - 1 would then be 0). Pass
    ``categories=("pass", "fail")`` for a criterion that cannot be N/A.
    """
    cats = tuple(categories)
    if len(set(cats)) != len(cats) or len(cats) < 2:
        raise ValueError(f"need at least two distinct categories, got {cats!r}")
    pairs = [(a, b) for a, b in pairs]
    unknown = sorted({x for pair in pairs for x in pair} - set(cats))
    if unknown:
        raise ValueError(f"answers {unknown!r} are not among categories {cats!r}")
    n = len(pairs)
    counts = Counter(pairs)
    confusion = {(a, b): counts[(a, b)] for a in cats for b in cats}
    if n == 0:
        return Agreement(0, None, None, None, {c: 0.0 for c in cats}, confusion, 0 >= min_n)
    raw = sum(counts[(c, c)] for c in cats) / n
    shares = _shares(pairs, cats)
    return Agreement(n=n, raw=raw, kappa=_kappa(pairs, cats), ac1=_ac1(raw, shares, len(cats)),
                     prevalence=shares, confusion=confusion, enough=n >= min_n)


def _shares(pairs: list[tuple[str, str]], cats: tuple[str, ...]) -> dict[str, float]:
    """Each category's share of all 2n answers: the mean of the two raters' shares (π_k)."""
    total = Counter(x for pair in pairs for x in pair)
    return {c: total[c] / (2 * len(pairs)) for c in cats}


def _ac1(raw: float, shares: Mapping[str, float], q: int) -> float:
    """Gwet's AC1: (p_a - p_e) / (1 - p_e), p_e = 1/(q-1) · Σ π_k (1 - π_k).

    p_e is at most 1/q < 1, so AC1 is always defined.
    """
    p_e = sum(p * (1 - p) for p in shares.values()) / (q - 1)
    return (raw - p_e) / (1 - p_e)


def _kappa(pairs: list[tuple[str, str]], cats: tuple[str, ...]) -> float | None:
    """Cohen's kappa from scikit-learn; None where it is undefined (sklearn's nan)."""
    from sklearn.metrics import cohen_kappa_score  # imported here: ~120 MB a command that never calibrates does not need

    a, b = zip(*pairs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # sklearn warns before returning nan for undefined kappa
        value = float(cohen_kappa_score(list(a), list(b), labels=list(cats)))
    return None if math.isnan(value) else value


def machine_vs_human(rows: Iterable[MachineHumanRow], min_n: int = MIN_N,
                     categories: Sequence[str] = CATEGORIES) -> dict[str, Agreement]:
    """Machine (rater a) against human (rater b) agreement per criterion id, all rubric versions pooled."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        groups[row.criterion_id].append((row.machine, row.human))
    return _per_group(groups, categories, min_n)


def machine_vs_human_by_version(rows: Iterable[MachineHumanRow], min_n: int = MIN_N,
                                categories: Sequence[str] = CATEGORIES,
                                ) -> dict[tuple[str | None, str], Agreement]:
    """Machine against human agreement per (rubric_version, criterion_id).

    A changed rubric can change how the machine answers, so its agreement is
    best judged per version; rows without a version group under None.
    """
    groups: dict[tuple[str | None, str], list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        groups[(row.rubric_version, row.criterion_id)].append((row.machine, row.human))
    return _per_group(groups, categories, min_n)


def human_vs_human(rows: Iterable[HumanAnswer], min_n: int = MIN_N,
                   categories: Sequence[str] = CATEGORIES) -> dict[str, Agreement]:
    """Reviewer against reviewer agreement per criterion id.

    Every pair of different reviewers who answered the same criterion of the
    same call gives one pair (3 reviewers on a call: 3 pairs). Rater a is the
    reviewer whose name sorts first; AC1 and raw agreement do not depend on
    that order, kappa slightly can. A reviewer answering the same criterion of
    the same call twice is a ValueError (the caller keeps the answer that counts).
    """
    answers: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for row in rows:
        given = answers[(row.criterion_id, row.call_id)]
        if row.reviewer in given:
            raise ValueError(f"reviewer {row.reviewer!r} answered criterion {row.criterion_id!r} "
                             f"of call {row.call_id!r} more than once")
        given[row.reviewer] = row.answer
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for (criterion_id, _call_id), given in sorted(answers.items()):
        for r1, r2 in combinations(sorted(given), 2):
            groups[criterion_id].append((given[r1], given[r2]))
    return _per_group(groups, categories, min_n)


def _per_group(groups: Mapping[K, list[tuple[str, str]]], categories: Sequence[str],
               min_n: int) -> dict[K, Agreement]:
    return {key: agreement(pairs, categories, min_n) for key, pairs in groups.items()}


def needs_review(stats: Mapping[K, Agreement], *, gate_ac1: float = GATE_AC1,
                 gate_kappa: float | None = None) -> dict[K, str]:
    """The keys whose agreement is unknown or below the gate, each with a short reason.

    Default gate: not enough pairs (``enough`` false), or AC1 below 0.6. Below
    0.6 a chance-corrected agreement is at best "moderate" on the usual
    Landis & Koch scale, too weak to trust the machine's answer unreviewed.
    AC1 rather than kappa because kappa collapses on skewed criteria (see the
    module docstring); ``gate_kappa`` adds a kappa gate where wanted — an
    undefined kappa never fails it, since it only arises when both raters gave
    one identical answer throughout.
    """
    flagged: dict[K, str] = {}
    for key, stat in stats.items():
        reason = _gate_reason(stat, gate_ac1, gate_kappa)
        if reason:
            flagged[key] = reason
    return flagged


def _gate_reason(stat: Agreement, gate_ac1: float, gate_kappa: float | None) -> str | None:
    if not stat.enough or stat.ac1 is None:
        return f"only {stat.n} pairs, too few to judge"
    if stat.ac1 is not None and stat.ac1 < gate_ac1:
        return f"AC1 {stat.ac1:.2f} below {gate_ac1:g}"
    if gate_kappa is not None and stat.kappa is not None and stat.kappa < gate_kappa:
        return f"kappa {stat.kappa:.2f} below {gate_kappa:g}"
    return None
