"""Rubrics shipped with the tool (YAML, installed as package data)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_RUBRIC = "inbound_support"


def shipped() -> dict[str, Path]:
    """Name -> path of every shipped rubric."""
    root = resources.files(__name__)
    return {p.name.removesuffix(".yaml"): Path(str(p)) for p in root.iterdir()
            if p.name.endswith(".yaml") and not p.name.endswith(".tests.yaml")}


def rubric_path(name_or_path: str | None) -> Path:
    """A shipped rubric's path by name (default: inbound_support), or the given file path."""
    name = name_or_path or DEFAULT_RUBRIC
    return shipped().get(name.replace("-", "_"), Path(name))
