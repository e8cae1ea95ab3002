"""Event checks: the call has an event of a kind (used for `applies_when` and in sequences)."""
from __future__ import annotations

from pydantic import Field

from qa_types import Evidence, Outcome
from scoring.checks.base import BaseCheck, CheckContext, CheckResult, check_kind
from scoring.checks.window import EventName


@check_kind("event", order=30)
class EventCheck(BaseCheck):
    """Passes when the call has at least `min_count` events of the kind (e.g. a hold)."""

    event: EventName = Field(description="Event kind: hold.")
    min_count: int = Field(1, ge=1)

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        events = ctx.events.get(self.event, [])
        evidence = [Evidence(quote=f"{e.kind} ({e.end - e.start:.0f} s)", role="", start=round(e.start, 2),
                             end=round(e.end, 2), kind="event") for e in events]
        if len(events) >= self.min_count:
            return CheckResult(Outcome.PASS, evidence)
        return CheckResult(Outcome.FAIL, evidence, f"no {self.event} in this call")

    def describe(self) -> str:
        return f"the call has a {self.event}" if self.min_count == 1 else f"the call has {self.min_count}+ {self.event}s"
