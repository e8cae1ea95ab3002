"""What every check kind shares: the context it reads and the result it returns."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from qa_types import CallMetrics, Evidence, Outcome
from scoring.calltext import CallText
from scoring.events import Event
from scoring.text import PhraseList

MatcherFactory = Callable[[object, str, bool], "PhraseList | None"]


@dataclass
class CheckContext:
    """One call as checks see it: text, events and metrics computed once and shared."""

    call: CallText
    events: dict[str, list[Event]]
    metrics: CallMetrics
    matcher: MatcherFactory  # (phrase spec, language, fuzzy) -> compiled matcher or None

    @property
    def duration(self) -> float:
        return self.call.transcript.duration


@dataclass
class CheckResult:
    """A check's verdict with its evidence (quotes for hits, searched windows for misses)."""

    outcome: Outcome
    evidence: list[Evidence] = field(default_factory=list)
    note: str = ""

    @classmethod
    def na(cls, note: str) -> "CheckResult":
        return cls(Outcome.NA, note=note)


class BaseCheck(BaseModel):
    """A check kind: one YAML key selects it; `evaluate` scores it, `describe` explains it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def evaluate(self, ctx: CheckContext) -> CheckResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def phrase_specs(self) -> list[tuple[tuple, object]]:
        """(relative YAML path, phrase spec, fuzzy) of every phrase list this check uses."""
        return []
