"""Fit each meaning check's threshold from the rubric's own test cases (`qa rubric fit`).

A case constrains a meaning check when the expected outcome of the criterion holding it
depends on the threshold. For every case the criterion is scored with the threshold set just
at each similarity a sentence of the call reaches (and above them all), so the outcome is
known on every interval between those values; `any`, `all`, `sequence`, windows and
`applies_when` all count as they do in scoring. The fitted threshold is the middle of the
widest interval that gets the most constraining cases right: as far as the cases allow from
the nearest sentence on either side.

A check needs at least MIN_CASES constraining cases that expect a pass and as many that expect
a fail (or N/A, for a check in `applies_when`); with fewer it is left as it is and the result
says why.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel

from scoring.checks.meaning import MeaningCheck
from scoring.engine import RubricScorer
from scoring.rubric import Criterion, Rubric
from scoring.rubric_tests import TestCase, case_transcript

MIN_CASES = 3
"""Constraining cases needed on each side (expected pass, expected fail) to fit a threshold."""
ABOVE_ALL = 1.5  # a threshold no sentence reaches (cosine similarity is at most 1)
EPSILON = 1e-5


@dataclass
class MeaningSite:
    """One meaning check of a rubric: its criterion and its YAML path (to the check mapping)."""

    section_id: str
    criterion: Criterion
    path: tuple
    check: MeaningCheck

    @property
    def where(self) -> str:
        return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in self.path).replace(".[", "[")


def meaning_sites(rubric: Rubric) -> list[MeaningSite]:
    """Every meaning check of the rubric (inside any/all/not/sequence, in checks and applies_when)."""
    sites = []
    for si, section in enumerate(rubric.sections):
        for ci, criterion in enumerate(section.criteria):
            for name in ("applies_when", "check"):
                node = getattr(criterion, name)
                if node is not None:
                    for path, check in _walk(node, ("sections", si, "criteria", ci, name)):
                        sites.append(MeaningSite(section.id, criterion, path, check))
    return sites


def _walk(node, path: tuple) -> Iterator[tuple[tuple, MeaningCheck]]:
    if isinstance(node, MeaningCheck):
        yield path, node
    elif isinstance(node, BaseModel):
        for name, info in type(node).model_fields.items():
            yield from _walk(getattr(node, name), path + (info.alias or name,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, path + (i,))


@dataclass
class Fit:
    """What fitting found for one meaning check."""

    site: MeaningSite
    old_threshold: float
    threshold: float | None = None  # None: not fitted (see `reason`)
    passing: int = 0  # constraining cases that expect the criterion to pass (to apply, in applies_when)
    failing: int = 0
    right: int = 0  # constraining cases the fitted threshold gets right
    languages: list[str] = field(default_factory=list)
    between: tuple[float, float] | None = None  # the interval the threshold was taken from
    wrong: list[str] = field(default_factory=list)  # names of the constraining cases it gets wrong
    reason: str = ""

    @property
    def cases(self) -> int:
        return self.passing + self.failing


def fit_thresholds(rubric: Rubric, cases: list[TestCase], min_cases: int = MIN_CASES) -> list[Fit]:
    """A Fit per meaning check; the rubric is left as it was."""
    scorer = RubricScorer(rubric)
    contexts = [(case, scorer.context(case_transcript(case))) for case in cases]
    return [_fit_one(scorer, site, contexts, min_cases) for site in meaning_sites(rubric)]


def _fit_one(scorer: RubricScorer, site: MeaningSite, contexts, min_cases: int) -> Fit:
    from scoring.meaning import call_sentences, embed_texts

    check, criterion = site.check, site.criterion
    fit = Fit(site, check.meaning.threshold)
    examples = embed_texts(check.meaning.examples)
    original = check.meaning.threshold
    # per constraining case: (sorted thresholds, outcome right at each of them, name, expects pass)
    curves: list[tuple[np.ndarray, np.ndarray, str, bool]] = []
    languages = set()
    try:
        for case, ctx in contexts:
            expected = case.expect.get(criterion.id)
            if expected is None:
                continue
            vectors = call_sentences(ctx.call).vectors
            sims = (vectors @ examples.T).max(axis=1) if len(vectors) else np.zeros(0)
            points = np.unique(np.append(sims.astype(np.float64), ABOVE_ALL))
            right = []
            for t in points:
                # just below the point: the check multiplies a subset of the vectors, which can
                # round a sentence's similarity a hair under the value computed here
                check.meaning.threshold = float(t) - EPSILON  # plain assignment: no validation
                right.append(scorer._criterion(site.section_id, criterion, ctx).outcome.value == expected)
            right = np.array(right)
            if right.all() or not right.any():
                continue  # the threshold does not decide this case
            curves.append((points, right, case.name, bool(right[0])))  # right at the lowest: expects a pass
            languages.add(case.language)
    finally:
        check.meaning.threshold = original
    fit.passing = sum(1 for c in curves if c[3])
    fit.failing = len(curves) - fit.passing
    fit.languages = sorted(languages)
    if fit.passing < min_cases or fit.failing < min_cases:
        fit.reason = (f"{fit.passing} passing and {fit.failing} failing test cases depend on it; "
                      f"fitting needs at least {min_cases} of each")
        return fit

    candidates = np.unique(np.concatenate([c[0] for c in curves]))
    scores = np.zeros(len(candidates), dtype=int)
    for points, right, _, _ in curves:
        # a threshold t behaves like the case's smallest point >= t
        idx = np.searchsorted(points, candidates, side="left")
        scores += right[np.minimum(idx, len(points) - 1)]
    best = scores.max()
    low, high = _widest_run(candidates, scores == best)
    threshold = min(1.0, round((low + high) / 2, 3))
    if not low < threshold <= high:  # rounding left the interval
        threshold = min(1.0, round(high, 4))
    fit.threshold, fit.between, fit.right = threshold, (round(low, 4), round(min(high, 1.0), 4)), int(best)
    for points, right, name, _ in curves:
        if not right[min(np.searchsorted(points, threshold, side="left"), len(points) - 1)]:
            fit.wrong.append(name)
    return fit


def _widest_run(candidates: np.ndarray, good: np.ndarray) -> tuple[float, float]:
    """(low, high) of the widest interval (candidates[a-1], candidates[b]] where every candidate
    from a to b is good; a run starting at the first candidate is taken to start 0.05 below it."""
    best, run_start = None, None
    for i, ok in enumerate(good):
        if ok and run_start is None:
            run_start = i
        if run_start is not None and (not ok or i == len(good) - 1):
            end = i if ok else i - 1
            low = candidates[run_start - 1] if run_start > 0 else candidates[0] - 0.05
            high = min(candidates[end], 1.0)
            if best is None or high - low > best[1] - best[0]:
                best = (float(low), float(high))
            run_start = None
    return best


def write_fits(text: str, fits: list[Fit]) -> str:
    """The rubric YAML `text` with each fitted check's `threshold` and `fitted` record set
    (round trip: comments, order and quoting of everything else are kept)."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    tree = yaml.load(text)
    for fit in fits:
        if fit.threshold is None:
            continue
        node = tree
        for part in fit.site.path:
            node = node[part]
        block = node["meaning"]
        block["threshold"] = fit.threshold
        record = CommentedMap(cases=fit.cases, right=fit.right, languages=fit.languages,
                              examples=fit.site.check.meaning.fingerprint())
        record.fa.set_flow_style()
        record["languages"] = _flow(fit.languages)
        block["fitted"] = record
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue()


def _flow(items: list) -> list:
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def fit_warnings(rubric: Rubric, cases: list[TestCase] | None) -> list[tuple[tuple, str]]:
    """(YAML path, warning) for meaning checks whose threshold is not fitted, was fitted with
    other examples, or has too few test cases to fit (counted from the cases' expectations
    for its criterion; `qa rubric fit` counts only the cases the threshold decides)."""
    warnings = []
    for site in meaning_sites(rubric):
        spec = site.check.meaning
        if cases is not None:
            expected = [c.expect.get(site.criterion.id) for c in cases]
            passing = sum(e == "pass" for e in expected)
            failing = sum(e in ("fail", "na") if site.path[4] == "applies_when" else e == "fail" for e in expected)
            if passing < MIN_CASES or failing < MIN_CASES:
                warnings.append((site.path, f"meaning check of '{site.criterion.id}' has {passing} passing and "
                                            f"{failing} failing test cases; fitting its threshold needs at least "
                                            f"{MIN_CASES} of each"))
                continue
        if spec.fitted is None:
            warnings.append((site.path, f"meaning check of '{site.criterion.id}': threshold {spec.threshold:g} was "
                                        f"not fitted; run `qa rubric fit` on this rubric"))
        elif spec.fitted.examples != spec.fingerprint():
            warnings.append((site.path, f"meaning check of '{site.criterion.id}': examples changed since its "
                                        f"threshold was fitted; run `qa rubric fit` again"))
    return warnings
