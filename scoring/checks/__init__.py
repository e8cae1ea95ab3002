"""Check kinds. One YAML key picks the kind; each kind is one class with its docs and options.

| key        | class          | passes when                                             |
|------------|----------------|---------------------------------------------------------|
| phrases    | PhrasesCheck   | the speaker says one of the phrases (in a window)       |
| absent     | AbsentCheck    | the speaker says none of the phrases                    |
| event      | EventCheck     | the call has the event (hold)                           |
| sequence   | SequenceCheck  | steps happen in order                                   |
| metric     | MetricCheck    | a call metric is within min/max                         |
| all/any/not| combinations   | every / at least one / not the sub-check(s)             |
"""
from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag

from scoring.checks.base import BaseCheck, CheckContext, CheckResult
from scoring.checks.combine import AllCheck, AnyCheck, NotCheck
from scoring.checks.event import EventCheck
from scoring.checks.metric import MetricCheck
from scoring.checks.phrases import AbsentCheck, PhrasesCheck, PhraseSpec
from scoring.checks.sequence import SequenceCheck
from scoring.checks.window import Window

CHECK_KINDS: dict[str, type[BaseCheck]] = {
    "phrases": PhrasesCheck, "absent": AbsentCheck, "event": EventCheck, "sequence": SequenceCheck,
    "metric": MetricCheck, "all": AllCheck, "any": AnyCheck, "not": NotCheck,
}


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = [k for k in CHECK_KINDS if k in value]
        return f"check[{keys[0]}]" if len(keys) == 1 else None
    for key, cls in CHECK_KINDS.items():
        if isinstance(value, cls):
            return f"check[{key}]"
    return None


Check = Annotated[
    Union[tuple(Annotated[cls, Tag(f"check[{key}]")] for key, cls in CHECK_KINDS.items())],
    Discriminator(_kind, custom_error_type="check_kind",
                  custom_error_message="a check needs exactly one of: " + ", ".join(CHECK_KINDS)),
]

for _cls in (AllCheck, AnyCheck, NotCheck):
    _cls.model_rebuild(_types_namespace={"Check": Check})

__all__ = ["CHECK_KINDS", "Check", "CheckContext", "CheckResult", "PhraseSpec", "Window"] + \
    [cls.__name__ for cls in CHECK_KINDS.values()]
