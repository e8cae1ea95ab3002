"""What every check kind shares: the context it reads, the result it returns, and the
registry that makes a class a check kind (`@check_kind("key")`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import catalogue
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
    """A check kind: one YAML key selects it; `evaluate` scores it, `describe` explains it.

    A subclass becomes a kind rubrics can use when decorated with `@check_kind("key")`; the
    key is then the field that selects it in YAML (`phrases:`, `metric:`, ...)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: ClassVar[str] = ""  # the YAML key, set by @check_kind

    def evaluate(self, ctx: CheckContext) -> CheckResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def phrase_specs(self) -> list[tuple[tuple, object]]:
        """(relative YAML path, phrase spec, fuzzy) of every phrase list this check uses."""
        return []


_kinds = catalogue.create("callqa", "check_kinds")
_order: dict[str, int] = {}
C = TypeVar("C", bound=type[BaseCheck])


def check_kind(key: str, order: int = 50):
    """Class decorator: register a BaseCheck subclass as the check kind YAML selects with `key`.

    `key` must be one of the class's fields (by name or alias), so a YAML mapping holding
    it is this kind. `order` places the kind in `check_kinds()` (the order error messages and
    docs list kinds in): lower first, ties by key. A key registered twice is an error."""
    def register(cls: C) -> C:
        if not (isinstance(cls, type) and issubclass(cls, BaseCheck)):
            raise TypeError(f"check kind '{key}': {cls!r} is not a BaseCheck subclass")
        if key in _kinds:
            raise ValueError(f"check kind '{key}' is registered twice ({_kinds.get(key).__name__}, {cls.__name__})")
        fields = {f.alias or name for name, f in cls.model_fields.items()} | set(cls.model_fields)
        if key not in fields:
            raise ValueError(f"check kind '{key}': {cls.__name__} has no field '{key}' to select it by")
        cls.kind = key
        _order[key] = order
        _kinds.register(key, func=cls)
        return cls
    return register


def check_kinds() -> dict[str, type[BaseCheck]]:
    """Every registered check kind, YAML key -> class, in list order (see `check_kind`).

    Only kinds whose modules were imported are here; importing `scoring.checks` imports
    every module of the package, so from outside it this is every kind."""
    return dict(sorted(_kinds.get_all().items(), key=lambda kv: (_order[kv[0]], kv[0])))
