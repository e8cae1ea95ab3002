"""Sequence checks: steps that must happen in order (hold request -> hold -> thanks)."""
from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Discriminator, Field, Tag

from qa_types import Evidence, Outcome
from scoring.checks.base import BaseCheck, CheckContext, CheckResult, check_kind
from scoring.checks.event import EventCheck
from scoring.checks.meaning import MeaningCheck
from scoring.checks.phrases import PhrasesCheck, spec_name

ORDER_TOLERANCE_S = 2.0


def _step_kind(value: Any) -> str | None:
    for cls, tag in ((PhrasesCheck, "step[phrases]"), (EventCheck, "step[event]"), (MeaningCheck, "step[meaning]")):
        if isinstance(value, cls):
            return tag
    if isinstance(value, dict):
        kinds = [k for k in ("phrases", "event", "meaning") if k in value]
        return f"step[{kinds[0]}]" if len(kinds) == 1 else None
    return None


Step = Annotated[
    Union[Annotated[PhrasesCheck, Tag("step[phrases]")], Annotated[EventCheck, Tag("step[event]")],
          Annotated[MeaningCheck, Tag("step[meaning]")]],
    Discriminator(_step_kind, custom_error_type="sequence_step",
                  custom_error_message="a sequence step needs exactly one of: phrases, event, meaning"),
]


@check_kind("sequence", order=40)
class SequenceCheck(BaseCheck):
    """Passes when every step happens, each starting after the previous one ended.

    Steps are phrase checks (`{phrases: ..., speaker: ...}`), meaning checks (`{meaning: ...}`)
    or events (`{event: hold}`).
    """

    sequence: list[Step] = Field(min_length=2)

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        cursor, evidence = 0.0, []
        for number, step in enumerate(self.sequence, start=1):
            candidates = self._occurrences(step, ctx)
            if candidates is None:
                return CheckResult.na(f"rubric has no '{ctx.call.lang}' phrases for step {number}")
            later = [e for e in candidates if e.start >= cursor - ORDER_TOLERANCE_S]
            if not later:
                return CheckResult(Outcome.FAIL, evidence,
                                   f"step {number} ({self._name(step)}) not found after {cursor:.1f} s")
            first = min(later, key=lambda e: e.start)
            evidence.append(first)
            cursor = first.end
        return CheckResult(Outcome.PASS, evidence)

    @staticmethod
    def _occurrences(step, ctx: CheckContext) -> list[Evidence] | None:
        if isinstance(step, EventCheck):
            return step.evaluate(ctx).evidence
        if isinstance(step, MeaningCheck):
            return step.occurrences(ctx)
        matcher = ctx.matcher(step.phrases, ctx.call.lang, step.fuzzy)
        if matcher is None:
            return None
        return [m.evidence() for m in ctx.call.find(matcher, step.speaker)]

    @staticmethod
    def _name(step) -> str:
        if isinstance(step, MeaningCheck):
            return f"meaning {step.meaning.examples[0]!r}"
        return step.event if isinstance(step, EventCheck) else spec_name(step.phrases)

    def describe(self) -> str:
        return "in order: " + " -> ".join(s.describe() for s in self.sequence)

    def phrase_specs(self):
        return [(("sequence", i) + loc, spec, fuzzy) for i, s in enumerate(self.sequence)
                for loc, spec, fuzzy in s.phrase_specs()]
