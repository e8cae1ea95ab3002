"""Metric checks: a call metric (dead air, hold length, talk ratio, ...) within bounds.

The metrics, their units and their evidence spans are defined once in `scoring.metrics`.
"""
from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from qa_types import Evidence, Outcome
from scoring.checks.base import BaseCheck, CheckContext, CheckResult, check_kind
from scoring.metrics import get_metric, metric_names


@check_kind("metric", order=50)
class MetricCheck(BaseCheck):
    """Passes when the metric is within [min, max]; N/A when the call has no such value.

    Evidence: "<metric> = <value>" over the whole call, then the metric's spans in time order
    (each dead-air gap, hold, overtalk, ...), as `event` evidence."""

    metric: str = Field(description="One of: " + ", ".join(metric_names()))
    min: float | None = Field(None, ge=0, description="Lowest passing value (every metric is 0 or more).")
    max: float | None = Field(None, ge=0, description="Highest passing value.")

    @field_validator("metric")
    @classmethod
    def _known(cls, name: str) -> str:
        try:
            get_metric(name)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
        return name

    @model_validator(mode="after")
    def _bounded(self) -> "MetricCheck":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}, so the check can never pass")
        return self

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        metric = get_metric(self.metric)
        value = metric.value(ctx.metrics)
        if value is None:
            return CheckResult.na(f"{self.metric} is not defined for this call")
        ok = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        evidence = [Evidence(quote=f"{self.metric} = {value:g}", role="", start=0.0,
                             end=round(ctx.duration, 2), kind="metric")]
        label = metric.span_label or metric.name
        evidence += [Evidence(quote=f"{label} ({round(b - a, 1):g} s)", role="", start=round(a, 2), end=round(b, 2),
                              kind="event") for a, b in metric.spans(ctx.metrics)]
        return CheckResult(Outcome.PASS if ok else Outcome.FAIL, evidence,
                           f"{self.metric} = {value:g} ({self._bounds()})")

    def _bounds(self) -> str:
        parts = ([f"min {self.min:g}"] if self.min is not None else []) + \
                ([f"max {self.max:g}"] if self.max is not None else [])
        return ", ".join(parts)

    def describe(self) -> str:
        return f"{get_metric(self.metric).label()} {self._bounds()}"
