"""Where in a call a phrase is searched: first/last seconds or turns, or around an event."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.checks.base import CheckContext

EVENT_TOLERANCE_S = 2.0
EventName = Literal["hold"]


class Window(BaseModel):
    """Exactly one placement: first_seconds, last_seconds, first_turns, last_turns,
    before_event or after_event (the latter two with `seconds`, default 30)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    first_seconds: float | None = Field(None, gt=0, description="The first N seconds of the call.")
    last_seconds: float | None = Field(None, gt=0, description="The last N seconds of the call.")
    first_turns: int | None = Field(None, gt=0, description="The first N turns (any speaker).")
    last_turns: int | None = Field(None, gt=0, description="The last N turns (any speaker).")
    before_event: EventName | None = Field(None, description="The N seconds before each event of this kind.")
    after_event: EventName | None = Field(None, description="The N seconds after each event of this kind.")
    seconds: float = Field(30, gt=0, description="Width of a window around an event.")

    @model_validator(mode="after")
    def _one_placement(self) -> "Window":
        given = [k for k in ("first_seconds", "last_seconds", "first_turns", "last_turns",
                             "before_event", "after_event") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of first_seconds, last_seconds, first_turns, "
                             "last_turns, before_event, after_event")
        return self

    def spans(self, ctx: CheckContext) -> list[tuple[float, float]]:
        """Time spans to search; [] when the anchor (turns, event) does not occur."""
        duration, turns = ctx.duration, ctx.call.transcript.turns
        if self.first_seconds is not None:
            return [(0.0, self.first_seconds)]
        if self.last_seconds is not None:
            return [(max(0.0, duration - self.last_seconds), duration)]
        if self.first_turns is not None:
            return [(0.0, turns[min(self.first_turns, len(turns)) - 1].end)] if turns else []
        if self.last_turns is not None:
            return [(turns[-min(self.last_turns, len(turns))].start, duration)] if turns else []
        if self.before_event is not None:
            return [(max(0.0, e.start - self.seconds), e.start + EVENT_TOLERANCE_S)
                    for e in ctx.events.get(self.before_event, [])]
        return [(e.end - EVENT_TOLERANCE_S, e.end + self.seconds) for e in ctx.events.get(self.after_event, [])]

    def describe(self) -> str:
        if self.first_seconds is not None:
            return f"in the first {self.first_seconds:g} s"
        if self.last_seconds is not None:
            return f"in the last {self.last_seconds:g} s"
        if self.first_turns is not None:
            return f"in the first {self.first_turns} turns"
        if self.last_turns is not None:
            return f"in the last {self.last_turns} turns"
        if self.before_event is not None:
            return f"within {self.seconds:g} s before each {self.before_event}"
        return f"within {self.seconds:g} s after each {self.after_event}"
