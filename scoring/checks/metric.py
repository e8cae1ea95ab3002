"""Metric checks: a call metric (dead air, hold length, talk ratio, ...) within bounds."""
from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from qa_types import CallMetrics, Evidence, Outcome
from scoring.checks.base import BaseCheck, CheckContext, CheckResult

METRICS = {
    "duration_s": "call duration (s)",
    "talk_to_listen": "agent talk time / customer talk time",
    "dead_air_s": "total dead air (s)",
    "overtalk_s": "total overtalk (s)",
    "overtalk_count": "number of overtalk periods",
    "hold_count": "number of holds",
    "longest_hold_s": "longest hold (s)",
    "longest_agent_monologue_s": "longest agent monologue (s)",
    "agent_interruptions": "times the agent interrupted the customer",
    "talk_s.agent": "agent talk time (s)",
    "talk_s.customer": "customer talk time (s)",
    "words_per_minute.agent": "agent speech rate (words/min)",
    "words_per_minute.customer": "customer speech rate (words/min)",
}


def metric_value(metrics: CallMetrics, name: str) -> float | None:
    """Value of a metric by name; dotted names index per-role tables ("talk_s.agent")."""
    head, _, role = name.partition(".")
    value = getattr(metrics, head)
    return value.get(role) if role else value


class MetricCheck(BaseCheck):
    """Passes when the metric is within [min, max]; N/A when the call has no such value."""

    metric: str = Field(description="One of: " + ", ".join(METRICS))
    min: float | None = Field(None, ge=0, description="Lowest passing value (every metric is 0 or more).")
    max: float | None = Field(None, ge=0, description="Highest passing value.")

    @field_validator("metric")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in METRICS:
            raise ValueError(f"unknown metric '{name}'; known: {', '.join(METRICS)}")
        return name

    @model_validator(mode="after")
    def _bounded(self) -> "MetricCheck":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}, so the check can never pass")
        return self

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        value = metric_value(ctx.metrics, self.metric)
        if value is None:
            return CheckResult.na(f"{self.metric} is not defined for this call")
        ok = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        evidence = [Evidence(quote=f"{self.metric} = {value:g}", role="", start=0.0,
                             end=round(ctx.duration, 2), kind="metric")]
        return CheckResult(Outcome.PASS if ok else Outcome.FAIL, evidence,
                           f"{self.metric} = {value:g} ({self._bounds()})")

    def _bounds(self) -> str:
        parts = ([f"min {self.min:g}"] if self.min is not None else []) + \
                ([f"max {self.max:g}"] if self.max is not None else [])
        return ", ".join(parts)

    def describe(self) -> str:
        return f"{METRICS[self.metric]} {self._bounds()}"
