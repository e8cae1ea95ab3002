"""Metrics as the report pages show them, read through the metric registry (`scoring.metrics`).

A call's metrics reach the reports as the JSON record stored with its scorecard (`call["metrics"]`
in `ReportData.calls`); every registered metric is read from it with its unit, description, value
and evidence spans. Metric evidence of a criterion ("dead_air_s = 25") is given the same reading,
so the `metric` evidence macro (templates/evidence.html) can show what the number means and when
it happened."""
from __future__ import annotations

from qa_types import CallMetrics
from reports.data import ReportData
from scoring.metrics import Metric, registered_metrics


def call_metrics(call: dict) -> CallMetrics | None:
    """The call's stored metric record, or None when its scorecard has none (or one that cannot be read)."""
    plain = call.get("metrics")
    if not isinstance(plain, dict):
        return None
    try:
        return CallMetrics.from_plain(plain)
    except (TypeError, ValueError):
        return None


def metric_rows(call: dict, registry: list[Metric] | None = None) -> list[dict]:
    """Every metric of `registry` (default: every registered metric) on a call, in registry order:
    name, unit, description, value (None when not defined for the call) and spans
    [(start, end), ...] in seconds. Empty when the call has no stored metrics."""
    metrics = call_metrics(call)
    if metrics is None:
        return []
    rows = []
    for metric in registered_metrics() if registry is None else registry:
        try:
            value, spans = metric.value(metrics), metric.spans(metrics)
        except (TypeError, ValueError, KeyError, AttributeError):  # a record older or odder than the metric
            value, spans = None, []
        rows.append({"name": metric.name, "unit": metric.unit, "description": metric.description,
                     "value": value, "spans": spans})
    return rows


def metric_name(evidence: dict) -> str:
    """The metric a metric evidence is about: its quote reads "<metric> = <value>"."""
    return (evidence.get("quote") or "").partition(" = ")[0].strip()


def attach_metrics(data: ReportData, registry: list[Metric] | None = None) -> None:
    """Give each metric evidence in `data.results` its metric reading (`evidence["metric"]`,
    None for a metric the registry no longer has). Its spans are left out where the criterion's
    evidence already lists them as events, so a page shows each span once."""
    calls = {c["call_id"]: c for c in data.calls}
    registry = registered_metrics() if registry is None else registry
    for call_id, results in data.results.items():
        attach_call_metrics(calls.get(call_id, {}), results, registry)


def attach_call_metrics(call: dict, results: list[dict], registry: list[Metric] | None = None) -> None:
    """`attach_metrics` for the results (each with its "evidence") of one call (with its "metrics")."""
    rows = None
    for result in results:
        own = [e for e in result["evidence"] if e["kind"] == "metric"]
        if not own:
            continue
        if rows is None:
            rows = {r["name"]: r for r in metric_rows(call, registry)}
        has_events = any(e["kind"] == "event" for e in result["evidence"])
        for e in own:
            row = rows.get(metric_name(e))
            e["metric"] = None if row is None else dict(row, spans=[] if has_events else row["spans"])
