"""Transcript + rubric -> Scorecard. Never touches audio or the database.

The names below load on first use, so a module that only needs a part of the package (the
metric registry, say) does not pay for spaCy's import.
"""
from importlib import import_module

_EXPORTS = {"RubricScorer": "scoring.engine", "Rubric": "scoring.rubric", "RubricError": "scoring.rubric_loader",
            "load_rubric": "scoring.rubric_loader", "parse_rubric": "scoring.rubric_loader"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scoring' has no attribute {name!r}")
