"""Call events found from timing and speech: holds."""
from __future__ import annotations

from dataclasses import dataclass

from qa_types import Role
from scoring.calltext import CallText
from scoring.metrics import gaps, merge
from scoring.text import PhraseList


@dataclass(frozen=True)
class Event:
    """Something that happened in the call, from `start` to `end` seconds."""

    kind: str
    start: float
    end: float
    announced: bool = False  # an agent hold request came first


def find_holds(
    call: CallText,
    hold_request: PhraseList | None,
    min_agent_silence: float,
    min_dead_air: float,
) -> list[Event]:
    """Holds: those the call's metadata gives (e.g. from the phone system), an agent hold request
    followed by agent silence of `min_agent_silence` seconds, or any stretch of `min_dead_air`
    seconds where nobody speaks (an unannounced hold)."""
    agent_turns = [t for t in call.transcript.turns if t.role == Role.AGENT]
    holds: list[Event] = [Event("hold", start, end) for start, end in call.transcript.holds]
    if hold_request is not None:
        for match in call.find(hold_request, "agent"):
            following = [t.start for t in agent_turns if t.start > match.end]
            resume = min(following) if following else call.transcript.duration
            silent_from = max([match.end] + [t.end for t in agent_turns if t.start <= match.end])
            overlaps = any(h.start < resume and h.end > silent_from for h in holds)
            if resume - silent_from >= min_agent_silence and not overlaps:
                holds.append(Event("hold", silent_from, resume, announced=True))
    for start, end in gaps(merge((t.start, t.end) for t in call.transcript.turns), min_dead_air):
        if not any(h.start < end and h.end > start for h in holds):
            holds.append(Event("hold", start, end))
    return sorted(holds, key=lambda e: e.start)
