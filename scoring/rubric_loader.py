"""Read a rubric YAML file into a validated `Rubric`, with errors that name file, path and line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from scoring.rubric import Rubric, content_hash


class RubricError(Exception):
    """A rubric file cannot be used; the message is one line: file:line: yaml.path: fault."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


def _yaml_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _locate(tree: Any, loc: tuple) -> tuple[tuple, int | None]:
    """The YAML path of a pydantic error location and its 1-based line.

    Parts that are not keys in the YAML (union branch and tag names pydantic adds) are dropped,
    except a final one (a missing field is named but absent).
    """
    node, path, line = tree, [], None
    for i, part in enumerate(loc):
        lc = getattr(node, "lc", None)
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            line = lc.item(part)[0] + 1 if lc is not None else line
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and part in node:
            line = lc.key(part)[0] + 1 if lc is not None else line
            node = node[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(part, str) and "[" not in part:
            path.append(part)
    if line is None and getattr(tree, "lc", None) is not None:
        line = tree.lc.line + 1
    return tuple(path), line


def _unknown_phrase_sets(rubric: Rubric) -> list[tuple[tuple, str]]:
    faults = []
    for loc, spec, _ in rubric.phrase_references():
        if isinstance(spec, str):
            if not spec.startswith("$"):
                faults.append((loc, f"phrase set reference must start with '$', got '{spec}'"))
            elif spec[1:] not in rubric.phrase_sets:
                faults.append((loc, f"unknown phrase set '{spec}'"))
    return faults


def _read_yaml(text: str, source: str) -> Any:
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else "?"
        raise RubricError(f"{source}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise RubricError(f"{source}: invalid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise RubricError(f"{source}:1: a rubric must be a YAML mapping with id, name and sections")
    return tree


def parse_rubric(text: str, source: str = "<rubric>") -> Rubric:
    """Validate rubric YAML text; RubricError names `source`, the line and the YAML path.

    The message is the first fault (plus how many more); `.problems` lists all of them.
    """
    tree = _read_yaml(text, source)
    try:
        rubric = Rubric.model_validate(_plain(tree))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path, line = _locate(tree, error["loc"])
            problems.append(f"{source}:{line}: {_yaml_path(path)}: {error['msg']}")
        problems = list(dict.fromkeys(problems))
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RubricError(problems[0] + more, problems) from None
    faults = [f"{source}:{_locate(tree, loc)[1]}: {_yaml_path(loc)}: {msg}" for loc, msg in _unknown_phrase_sets(rubric)]
    if faults:
        more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
        raise RubricError(faults[0] + more, faults)
    rubric.content_hash = content_hash(text)
    return rubric


def lint_warnings(rubric: Rubric, text: str, source: str) -> list[str]:
    """Problems that do not stop scoring: declared languages a phrase set has no phrases for,
    phrase sets never used."""
    tree = _read_yaml(text, source)
    used = {spec[1:] for _, spec, _ in rubric.phrase_references() if isinstance(spec, str)}
    warnings = []
    for name, table in rubric.phrase_sets.items():
        line = _locate(tree, ("phrase_sets", name))[1]
        missing = [lang for lang in rubric.languages if not table.get(lang)]
        if missing:
            warnings.append(f"{source}:{line}: phrase_sets.{name}: no phrases for {', '.join(missing)}")
        if name not in used:
            warnings.append(f"{source}:{line}: phrase_sets.{name}: never used")
    return warnings


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def load_rubric(path: str | Path) -> tuple[Rubric, str]:
    """Rubric and its YAML text from a file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: rubric file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot read rubric ({exc})") from None
    return parse_rubric(text, str(path)), text
