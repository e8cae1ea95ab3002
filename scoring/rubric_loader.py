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


def _yaml_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_of(tree: Any, loc: tuple) -> int | None:
    """1-based line of the deepest node of `loc` that exists in the parsed YAML."""
    node, line = tree, None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(part, int) and isinstance(node, list):
                if lc is not None:
                    line = lc.item(part)[0] + 1
                node = node[part]
            elif isinstance(node, dict) and part in node:
                if lc is not None:
                    line = lc.key(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    if line is None and getattr(tree, "lc", None) is not None:
        line = tree.lc.line + 1
    return line


def _pydantic_loc(error: dict) -> tuple:
    # Drop union/tag branch names pydantic inserts (e.g. 'str', 'dict[str,list[str]]').
    return tuple(p for p in error["loc"] if isinstance(p, int) or not any(c in p for c in "[]"))


def _unknown_phrase_sets(rubric: Rubric) -> list[tuple[tuple, str]]:
    faults = []
    if isinstance(rubric.settings.hold_request, str):
        refs = [(("settings", "hold_request"), rubric.settings.hold_request)]
    else:
        refs = []
    for si, section in enumerate(rubric.sections):
        for ci, criterion in enumerate(section.criteria):
            base = ("sections", si, "criteria", ci)
            refs += [(base + ("check", k), getattr(criterion.check, k)) for k in ("phrases", "absent")]
            if criterion.applies_when is not None:
                refs.append((base + ("applies_when", "phrases"), criterion.applies_when.phrases))
    for loc, spec in refs:
        if isinstance(spec, str):
            if not spec.startswith("$"):
                faults.append((loc, f"phrase set reference must start with '$', got '{spec}'"))
            elif spec[1:] not in rubric.phrase_sets:
                faults.append((loc, f"unknown phrase set '{spec}'"))
    return faults


def parse_rubric(text: str, source: str = "<rubric>") -> Rubric:
    """Validate rubric YAML text; RubricError names `source`, the line and the YAML path."""
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
    try:
        rubric = Rubric.model_validate(_plain(tree))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _pydantic_loc(first)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RubricError(
            f"{source}:{_line_of(tree, loc)}: {_yaml_path(loc)}: {first['msg']}{more}"
        ) from None
    faults = _unknown_phrase_sets(rubric)
    if faults:
        loc, msg = faults[0]
        raise RubricError(f"{source}:{_line_of(tree, loc)}: {_yaml_path(loc)}: {msg}")
    rubric.content_hash = content_hash(text)
    return rubric


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
