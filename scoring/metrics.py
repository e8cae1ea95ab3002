"""Call metrics: measured once per call from the turns, each defined once in a registry.

Two layers:

* `compute_metrics` measures a call into `qa_types.CallMetrics` (the record stored with a
  scorecard): talk time, dead air, overtalk, holds, monologue, interruptions, speech rate.
* A `Metric` is one named number read from that record, with its unit, description and
  evidence spans (the times that justify it). `registered_metrics()` lists them in a stable
  order; `get_metric(name)` finds one. The `metric:` check kind validates names and reads
  values and evidence through this registry; a stored record reads the same way after
  `CallMetrics.from_plain(json)`.

Adding a metric is one decorated function at the end of this file: `@metric` for a number
read from a `CallMetrics` field, `@measured_metric` for a new measurement of the call
(computed by `compute_metrics`, kept in `CallMetrics.measured`).

All times are seconds. Intervals are turn spans (a turn bridges pauses of up to 2 s).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import catalogue

from qa_types import CallMetrics, Role, Transcript

Interval = tuple[float, float]


# --------------------------------------------------------------------------- intervals

def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of intervals, sorted, overlapping or touching ones joined."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def total(intervals: Iterable[Interval]) -> float:
    """Summed length of intervals (callers pass merged ones, so nothing is counted twice)."""
    return sum(b - a for a, b in intervals)


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Where two sorted, merged interval lists overlap."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def gaps(intervals: list[Interval], min_length: float) -> list[Interval]:
    """Gaps of at least `min_length` between merged intervals (not before the first or after the last)."""
    return [(a[1], b[0]) for a, b in zip(intervals, intervals[1:]) if b[0] - a[1] >= min_length]


def _r(value: float) -> float:
    return round(value, 3)


def _rs(intervals: Iterable[Interval]) -> list[Interval]:
    return [(_r(a), _r(b)) for a, b in intervals]


# --------------------------------------------------------------------------- measuring a call

@dataclass
class CallTimeline:
    """One call's speech as merged time spans, built once by `compute_metrics`.

    `measured_metric` functions read this to measure something `CallMetrics` has no field for.
    """

    transcript: Transcript
    talk: dict[Role, list[Interval]]     # merged turn spans per role
    speech: list[Interval]               # merged turn spans of everyone
    overtalk: list[Interval]             # agent and customer speaking at once
    holds: list[Interval]                # merged hold spans
    dead_air: list[Interval]             # silences of at least dead_air_min_s outside holds
    interruption_min_overlap_s: float = 0.5

    @property
    def duration(self) -> float:
        return self.transcript.duration


def timeline(transcript: Transcript, holds: Iterable[Interval] = (), dead_air_min_s: float = 5.0,
             interruption_min_overlap_s: float = 0.5) -> CallTimeline:
    """The merged spans of one call. `holds` are hold spans found elsewhere (see scoring.events)."""
    talk = {role: merge((t.start, t.end) for t in transcript.turns if t.role == role) for role in Role}
    speech = merge((t.start, t.end) for t in transcript.turns)
    hold_spans = merge(holds)
    dead_air = [g for g in gaps(speech, dead_air_min_s)
                if not any(h[0] < g[1] and h[1] > g[0] for h in hold_spans)]
    return CallTimeline(transcript=transcript, talk=talk, speech=speech,
                        overtalk=intersect(talk[Role.AGENT], talk[Role.CUSTOMER]), holds=hold_spans,
                        dead_air=dead_air, interruption_min_overlap_s=interruption_min_overlap_s)


def compute_metrics(
    transcript: Transcript,
    holds: Iterable[Interval] = (),
    dead_air_min_s: float = 5.0,
    interruption_min_overlap_s: float = 0.5,
) -> CallMetrics:
    """Measure one call: the `CallMetrics` fields, then every `measured_metric` into `measured`.

    `holds` are hold spans found elsewhere (see scoring.events); silences of `dead_air_min_s`
    or more between turns that overlap no hold are dead air. Values are rounded to 1 ms."""
    tl = timeline(transcript, holds, dead_air_min_s, interruption_min_overlap_s)
    agent, customer = tl.talk[Role.AGENT], tl.talk[Role.CUSTOMER]

    def words_per_minute(role: Role) -> float | None:
        talk = total(tl.talk[role])
        n_words = sum(len(t.text.split()) for t in transcript.turns if t.role == role)
        return round(60.0 * n_words / talk, 1) if talk > 0 else None

    agent_talk, customer_talk = total(agent), total(customer)
    monologue = _longest_monologue(agent, customer)
    interruptions = _interruptions(transcript, interruption_min_overlap_s)
    metrics = CallMetrics(
        duration_s=_r(transcript.duration),
        talk_s={role.value: _r(total(tl.talk[role])) for role in Role if tl.talk[role]},
        talk_to_listen=_r(agent_talk / customer_talk) if customer_talk > 0 else None,
        dead_air=_rs(tl.dead_air),
        dead_air_s=_r(total(tl.dead_air)),
        overtalk=_rs(tl.overtalk),
        overtalk_s=_r(total(tl.overtalk)),
        holds=_rs(tl.holds),
        longest_hold_s=_r(max((b - a for a, b in tl.holds), default=0.0)),
        words_per_minute={role.value: wpm for role in Role if (wpm := words_per_minute(role)) is not None},
        longest_agent_monologue_s=_r(monologue[1] - monologue[0]) if monologue else 0.0,
        longest_agent_monologue=_rs([monologue])[0] if monologue else None,
        agent_interruptions=len(interruptions),
        interruptions=_rs(interruptions),
    )
    for m in registered_metrics():
        if m.measure is not None:
            reading = m.measure(tl)
            metrics.measured[m.name] = {"value": None if reading.value is None else _r(reading.value),
                                        "spans": [list(s) for s in _rs(reading.spans)]}
    return metrics


def _longest_monologue(agent: list[Interval], customer: list[Interval],
                       max_pause: float = 3.0) -> Interval | None:
    """Span of the longest agent stretch whose pauses are under `max_pause` s and hold no
    customer speech (the first one on a tie); None when the agent never speaks."""
    longest: Interval | None = None
    run_start, run_end = None, None
    for start, end in agent:
        customer_between = run_end is not None and any(c[0] < start and c[1] > run_end for c in customer)
        if run_start is None or start - run_end > max_pause or customer_between:
            run_start = start
        run_end = end
        if longest is None or run_end - run_start > longest[1] - longest[0]:
            longest = (run_start, run_end)
    return longest


def _interruptions(transcript: Transcript, min_overlap: float) -> list[Interval]:
    """Agent turns that start while the customer is speaking and overlap them by `min_overlap` s:
    for each, the overlap with the first such customer turn (agent start to the earlier end)."""
    customer = [t for t in transcript.turns if t.role == Role.CUSTOMER]
    found = []
    for turn in transcript.turns:
        if turn.role != Role.AGENT:
            continue
        for c in customer:
            if c.start < turn.start and min(c.end, turn.end) - turn.start >= min_overlap:
                found.append((turn.start, min(c.end, turn.end)))
                break
    return found


# --------------------------------------------------------------------------- metric registry

@dataclass(frozen=True)
class Reading:
    """What a `measured_metric` function returns: the value (None: not defined for this call)
    and the spans that justify it."""

    value: float | None
    spans: list[Interval] = field(default_factory=list)


@dataclass(frozen=True)
class Metric:
    """One named call metric: what it is, how it is read from `CallMetrics`, and its evidence.

    `value(metrics)` is None when the call has no such value (e.g. talk : listen without
    customer speech, or a metric the stored record predates); `spans(metrics)` are the time
    spans behind the value (dead-air gaps, holds, overtalk, ...), empty when it has none.
    """

    name: str
    unit: str                 # "s", "ratio", "count", "words/min"
    description: str
    read: Callable[[CallMetrics], float | None]
    evidence: Callable[[CallMetrics], list[Interval]] | None = None
    measure: Callable[[CallTimeline], Reading] | None = None  # set for measured_metric only
    span_label: str = ""      # what one evidence span is, e.g. "dead air"; default: the name

    def value(self, metrics: CallMetrics) -> float | None:
        """This metric's value on a call (None when not defined for it)."""
        return self.read(metrics)

    def spans(self, metrics: CallMetrics) -> list[Interval]:
        """The time spans that justify the value, in time order; empty when it has none."""
        if self.evidence is None:
            return []
        return sorted((float(a), float(b)) for a, b in self.evidence(metrics) or [])

    def label(self) -> str:
        """Description with unit, e.g. "total dead air (s)"."""
        return self.description if self.unit in ("", "ratio", "count") else f"{self.description} ({self.unit})"


_metrics = catalogue.create("callqa", "metrics")
_listed: list[Metric] | None = None  # registered_metrics(), until a metric is added or removed


def _register(m: Metric) -> None:
    global _listed
    if m.name in _metrics:
        raise ValueError(f"metric '{m.name}' is defined twice")
    _metrics.register(m.name, func=m)
    _listed = None


def metric(name: str, unit: str, description: str,
           spans: Callable[[CallMetrics], list[Interval]] | None = None, span_label: str = ""):
    """Register the decorated function `(CallMetrics) -> float | None` as metric `name`.

    Use it for a metric read from a `CallMetrics` field; `spans` returns its evidence spans
    and `span_label` names one of them in evidence ("dead air")."""
    def register(read: Callable[[CallMetrics], float | None]):
        _register(Metric(name, unit, description, read, spans, span_label=span_label))
        return read
    return register


def measured_metric(name: str, unit: str, description: str, span_label: str = ""):
    """Register the decorated function `(CallTimeline) -> Reading` as metric `name`.

    Use it for a new measurement: `compute_metrics` runs the function once per call and keeps
    its reading in `CallMetrics.measured[name]` (stored with the scorecard), where `value` and
    `spans` read it. Calls measured before the metric existed read as None until rescored."""
    def register(measure: Callable[[CallTimeline], Reading]):
        def read(metrics: CallMetrics) -> float | None:
            return (metrics.measured.get(name) or {}).get("value")

        def evidence(metrics: CallMetrics) -> list[Interval]:
            return [tuple(s) for s in (metrics.measured.get(name) or {}).get("spans", [])]

        _register(Metric(name, unit, description, read, evidence, measure, span_label))
        return measure
    return register


def unregister_metric(name: str) -> None:
    """Remove a metric (for tests that define a throwaway one); KeyError when unknown."""
    get_metric(name)
    global _listed
    del catalogue.REGISTRY[(*_metrics.namespace, name)]
    _listed = None


def registered_metrics() -> list[Metric]:
    """Every metric, in the order defined (the order rubric docs and error messages list them)."""
    global _listed
    if _listed is None:
        _listed = list(_metrics.get_all().values())
    return list(_listed)


def metric_names() -> list[str]:
    """Names of every metric, in `registered_metrics()` order."""
    return [m.name for m in registered_metrics()]


def get_metric(name: str) -> Metric:
    """The metric called `name`; KeyError naming the known metrics when there is none."""
    if name not in _metrics:
        raise KeyError(f"unknown metric '{name}'; known: {', '.join(metric_names())}")
    return _metrics.get(name)


# --------------------------------------------------------------------------- the metrics

@metric("duration_s", "s", "call duration")
def _duration(m: CallMetrics) -> float | None:
    return m.duration_s


@metric("talk_to_listen", "ratio", "agent talk time / customer talk time")
def _talk_to_listen(m: CallMetrics) -> float | None:
    return m.talk_to_listen


@metric("dead_air_s", "s", "total dead air", spans=lambda m: m.dead_air, span_label="dead air")
def _dead_air(m: CallMetrics) -> float | None:
    return m.dead_air_s


@metric("overtalk_s", "s", "total overtalk", spans=lambda m: m.overtalk, span_label="overtalk")
def _overtalk(m: CallMetrics) -> float | None:
    return m.overtalk_s


@metric("overtalk_count", "count", "number of overtalk periods", spans=lambda m: m.overtalk, span_label="overtalk")
def _overtalk_count(m: CallMetrics) -> float | None:
    return len(m.overtalk)


@metric("hold_count", "count", "number of holds", spans=lambda m: m.holds, span_label="hold")
def _hold_count(m: CallMetrics) -> float | None:
    return len(m.holds)


def _longest_hold_span(m: CallMetrics) -> list[Interval]:
    return [max(m.holds, key=lambda h: h[1] - h[0])] if m.holds else []


@metric("longest_hold_s", "s", "longest hold", spans=_longest_hold_span, span_label="hold")
def _longest_hold(m: CallMetrics) -> float | None:
    return m.longest_hold_s


@metric("longest_agent_monologue_s", "s", "longest agent monologue",
        spans=lambda m: [m.longest_agent_monologue] if m.longest_agent_monologue else [],
        span_label="agent monologue")
def _monologue(m: CallMetrics) -> float | None:
    return m.longest_agent_monologue_s


@metric("agent_interruptions", "count", "times the agent interrupted the customer",
        spans=lambda m: m.interruptions, span_label="interruption")
def _interruptions_count(m: CallMetrics) -> float | None:
    return m.agent_interruptions


def _per_role(field: str, unit: str, description: str) -> None:
    """Register `<field>.agent` and `<field>.customer`: that role's entry of the `CallMetrics`
    field `field` (a dict by role), described as "<role> <description>"."""
    for role in ("agent", "customer"):
        metric(f"{field}.{role}", unit, f"{role} {description}")(lambda m, role=role: getattr(m, field).get(role))


_per_role("talk_s", "s", "talk time")
_per_role("words_per_minute", "words/min", "speech rate")
