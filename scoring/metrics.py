"""Call metrics computed once per call from the turns and shared by every check and report.

All times are seconds. Intervals are turn spans (a turn bridges pauses of up to 2 s).
"""
from __future__ import annotations

from collections.abc import Iterable

from qa_types import CallMetrics, Role, Transcript

Interval = tuple[float, float]


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


def compute_metrics(
    transcript: Transcript,
    holds: list[Interval] = (),
    dead_air_min_s: float = 5.0,
    interruption_min_overlap_s: float = 0.5,
) -> CallMetrics:
    """Metrics of one call. `holds` are hold spans found elsewhere (see scoring.events)."""
    spans = {role: merge((t.start, t.end) for t in transcript.turns if t.role == role) for role in Role}
    everyone = merge((t.start, t.end) for t in transcript.turns)
    agent, customer = spans[Role.AGENT], spans[Role.CUSTOMER]
    overtalk = intersect(agent, customer)
    hold_spans = merge(holds)
    dead_air = [g for g in gaps(everyone, dead_air_min_s)
                if not any(h[0] < g[1] and h[1] > g[0] for h in hold_spans)]

    def words_per_minute(role: Role) -> float | None:
        talk = total(spans[role])
        n_words = sum(len(t.text.split()) for t in transcript.turns if t.role == role)
        return round(60.0 * n_words / talk, 1) if talk > 0 else None

    agent_talk, customer_talk = total(agent), total(customer)
    return CallMetrics(
        duration_s=round(transcript.duration, 3),
        talk_s={role.value: round(total(spans[role]), 3) for role in Role if spans[role]},
        talk_to_listen=round(agent_talk / customer_talk, 3) if customer_talk > 0 else None,
        dead_air=[(round(a, 3), round(b, 3)) for a, b in dead_air],
        dead_air_s=round(total(dead_air), 3),
        overtalk=[(round(a, 3), round(b, 3)) for a, b in overtalk],
        overtalk_s=round(total(overtalk), 3),
        holds=[(round(a, 3), round(b, 3)) for a, b in hold_spans],
        longest_hold_s=round(max((b - a for a, b in hold_spans), default=0.0), 3),
        words_per_minute={role.value: wpm for role in Role if (wpm := words_per_minute(role)) is not None},
        longest_agent_monologue_s=round(_longest_monologue(agent, customer), 3),
        agent_interruptions=_interruptions(transcript, interruption_min_overlap_s),
    )


def _longest_monologue(agent: list[Interval], customer: list[Interval], max_pause: float = 3.0) -> float:
    """Longest agent stretch whose pauses are under `max_pause` s and hold no customer speech."""
    longest, run_start, run_end = 0.0, None, None
    for start, end in agent:
        customer_between = run_end is not None and any(c[0] < start and c[1] > run_end for c in customer)
        if run_start is None or start - run_end > max_pause or customer_between:
            run_start = start
        run_end = end
        longest = max(longest, run_end - run_start)
    return longest


def _interruptions(transcript: Transcript, min_overlap: float) -> int:
    """Agent turns that start while the customer is speaking and overlap them by `min_overlap` s."""
    customer = [t for t in transcript.turns if t.role == Role.CUSTOMER]
    count = 0
    for turn in transcript.turns:
        if turn.role != Role.AGENT:
            continue
        if any(c.start < turn.start and min(c.end, turn.end) - turn.start >= min_overlap for c in customer):
            count += 1
    return count
