"""Check kinds. One YAML key picks the kind; each kind is one class with its docs and options.

Kinds register themselves with `@check_kind("key")` (scoring/checks/base.py); importing this
package imports every module in it, so a new kind is one new file here (plus its case file,
tests/check_cases/<key>.yaml). `Check`, the pydantic union rubrics validate against, is built
from the registry: a YAML mapping is the kind whose key it holds, exactly one of them.

| key        | class          | passes when                                             |
|------------|----------------|---------------------------------------------------------|
| phrases    | PhrasesCheck   | the speaker says one of the phrases (in a window)       |
| meaning    | MeaningCheck   | a sentence of the speaker means what an example means   |
| absent     | AbsentCheck    | the speaker says none of the phrases                    |
| event      | EventCheck     | the call has the event (hold)                           |
| sequence   | SequenceCheck  | steps happen in order                                   |
| metric     | MetricCheck    | a call metric is within min/max (see scoring.metrics)   |
| all/any/not| combinations   | every / at least one / not the sub-check(s)             |
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag

from scoring.checks.base import BaseCheck, CheckContext, CheckResult, check_kind, check_kinds

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from scoring.checks.phrases import PhraseSpec  # noqa: E402  (after discovery: phrases is imported anyway)
from scoring.checks.window import Window  # noqa: E402

_KINDS = check_kinds()


def _kind(value: Any) -> str | None:
    """The union tag of a YAML mapping (the one kind key it holds) or of a built check."""
    if isinstance(value, dict):
        keys = [k for k in _KINDS if k in value]
        return f"check[{keys[0]}]" if len(keys) == 1 else None
    if isinstance(value, BaseCheck) and type(value).kind in _KINDS:
        return f"check[{type(value).kind}]"
    return None


Check = Annotated[
    Union[tuple(Annotated[cls, Tag(f"check[{key}]")] for key, cls in _KINDS.items())],
    Discriminator(_kind, custom_error_type="check_kind",
                  custom_error_message="a check needs exactly one of: " + ", ".join(_KINDS)),
]
"""Any registered check kind, picked by its YAML key."""

for _cls in _KINDS.values():  # kinds holding sub-checks (all, any, not) refer to "Check" by name
    _cls.model_rebuild(_types_namespace={"Check": Check})

__all__ = ["BaseCheck", "Check", "CheckContext", "CheckResult", "PhraseSpec", "Window", "check_kind",
           "check_kinds"]
