"""Combinations of checks: all, any, not."""
from __future__ import annotations

from pydantic import ConfigDict, Field

from qa_types import Outcome
from scoring.checks.base import BaseCheck, CheckContext, CheckResult, check_kind


def _combine(results: list[CheckResult], decisive: Outcome) -> CheckResult:
    """One result from sub-results: `decisive` (FAIL for all, PASS for any) wins if any
    applicable sub-check has it; N/A when no sub-check applies."""
    applicable = [r for r in results if r.outcome != Outcome.NA]
    if not applicable:
        return CheckResult.na("no sub-check applies")
    deciding = [r for r in applicable if r.outcome == decisive]
    chosen = deciding or applicable
    outcome = decisive if deciding else (Outcome.PASS if decisive == Outcome.FAIL else Outcome.FAIL)
    return CheckResult(outcome, _distinct([e for r in chosen for e in r.evidence]),
                       "; ".join(r.note for r in chosen if r.note))


def _distinct(evidence: list) -> list:
    """Evidence in order without quotes that overlap an earlier quote of the same speaker (a
    phrase and the sentence holding it, found by two sub-checks, are shown once)."""
    kept = []
    for item in evidence:
        if item.quote and any(k.quote and k.role == item.role and item.start < k.end and item.end > k.start
                              for k in kept):
            continue
        kept.append(item)
    return kept


@check_kind("all", order=90)
class AllCheck(BaseCheck):
    """Passes when every applicable sub-check passes; N/A when none applies."""

    all: list["Check"] = Field(min_length=1)

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        return _combine([c.evaluate(ctx) for c in self.all], Outcome.FAIL)

    def describe(self) -> str:
        return "all of: " + "; ".join(c.describe() for c in self.all)

    def phrase_specs(self):
        return [(("all", i) + loc, spec, fuzzy) for i, c in enumerate(self.all) for loc, spec, fuzzy in c.phrase_specs()]


@check_kind("any", order=91)
class AnyCheck(BaseCheck):
    """Passes when at least one sub-check passes; N/A when none applies."""

    any: list["Check"] = Field(min_length=1)

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        return _combine([c.evaluate(ctx) for c in self.any], Outcome.PASS)

    def describe(self) -> str:
        return "any of: " + "; ".join(c.describe() for c in self.any)

    def phrase_specs(self):
        return [(("any", i) + loc, spec, fuzzy) for i, c in enumerate(self.any) for loc, spec, fuzzy in c.phrase_specs()]


@check_kind("not", order=92)
class NotCheck(BaseCheck):
    """Passes when the sub-check fails (and the other way round); N/A stays N/A."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)
    negated: "Check" = Field(alias="not")

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        inner = self.negated.evaluate(ctx)
        flipped = {Outcome.PASS: Outcome.FAIL, Outcome.FAIL: Outcome.PASS, Outcome.NA: Outcome.NA}
        return CheckResult(flipped[inner.outcome], inner.evidence, inner.note)

    def describe(self) -> str:
        return f"not ({self.negated.describe()})"

    def phrase_specs(self):
        return [(("not",) + loc, spec, fuzzy) for loc, spec, fuzzy in self.negated.phrase_specs()]
