"""Read a rubric YAML file into a validated `Rubric`, with errors that name file, path and line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode

from scoring.rubric import Rubric, RubricFaults, content_hash, yaml_path


class RubricError(Exception):
    """A rubric file cannot be used; the message is one line: file:line: yaml.path: fault."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


_yaml_path = yaml_path


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


MAX_RUBRIC_BYTES = 5 * 1024 * 1024
"""Larger YAML files are refused unread (a rubric with 20,000 phrases in six languages is ~4 MB)."""
MAX_ALIAS_NODES = 100_000
"""How many nodes YAML aliases may add to a document beyond its own (stops "billion laughs")."""
MAX_DEPTH = 64
"""Deepest nesting of YAML collections accepted (a rubric needs about a dozen levels)."""


class _YamlFault(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


def _check_node_graph(root: Any) -> None:
    """Refuse YAML whose aliases expand beyond MAX_ALIAS_NODES nodes, that refer to themselves,
    or that nests deeper than MAX_DEPTH, before anything is constructed from it.

    An alias is the very node object its anchor names, so a node reached a second time is an
    alias use: its whole subtree counts again. Sizes are memoised, so this walk is linear in
    the document even when its expansion is exponential.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
    active: set[int] = set()
    added = 0

    def measure(node: Any, depth: int) -> tuple[int, int]:
        nonlocal added
        key = id(node)
        line = node.start_mark.line + 1
        if key in active:
            raise _YamlFault(line, "a YAML alias refers to a collection that contains it (recursive alias)")
        if key in sizes:
            size, height = sizes[key]
            added += size
            if added > MAX_ALIAS_NODES:
                raise _YamlFault(line, f"YAML aliases expand to more than {MAX_ALIAS_NODES} extra nodes "
                                       "(an alias bomb?); write the content out or use phrase_sets")
        else:
            children = [] if isinstance(node, ScalarNode) else \
                [n for pair in node.value for n in pair] if isinstance(node, MappingNode) else node.value
            if children and depth >= MAX_DEPTH:
                raise _YamlFault(line, f"YAML nested deeper than {MAX_DEPTH} levels")
            active.add(key)
            size, height = 1, 0
            for child in children:
                child_size, child_height = measure(child, depth + 1)
                size, height = size + child_size, max(height, child_height + 1)
            active.discard(key)
            sizes[key] = size, height
        if depth + height > MAX_DEPTH:
            raise _YamlFault(line, f"YAML nested deeper than {MAX_DEPTH} levels")
        return size, height

    if root is not None:
        measure(root, 0)


class _Constructor(RoundTripConstructor):
    """Round-trip constructor whose value errors (an impossible date, `!!int abc`) name the node."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise ConstructorError(None, None, f"cannot read this value ({exc})", node.start_mark) from None


def read_yaml(text: str, source: str, error: type[Exception]) -> Any:
    """YAML text -> round-trip tree (mappings know their lines), guarded against files over
    MAX_RUBRIC_BYTES, alias bombs, recursive aliases and deep nesting; faults raise `error`
    with one line naming `source` and the line."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_RUBRIC_BYTES:
        raise error(f"{source}: file is {size / 2**20:.1f} MB; files over {MAX_RUBRIC_BYTES // 2**20} MB are refused")
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    try:
        root = yaml.compose(text)
        _check_node_graph(root)
        return yaml.constructor.construct_document(root) if root is not None else None
    except _YamlFault as exc:
        raise error(f"{source}:{exc.line}: {exc.message}") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else "?"
        raise error(f"{source}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise error(f"{source}: invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except RecursionError:
        raise error(f"{source}: YAML nested too deeply") from None


def _read_yaml(text: str, source: str) -> Any:
    tree = read_yaml(text, source, RubricError)
    if not isinstance(tree, dict):
        raise RubricError(f"{source}:1: a rubric must be a YAML mapping with id, name and sections")
    return tree


def _problems(exc: ValidationError, tree: Any, source: str) -> list[str]:
    """One line per fault: file:line: yaml.path: message."""
    problems = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, RubricFaults):
            faults = [(error["loc"] + loc, msg) for loc, msg in cause.faults]
        else:
            faults = [(error["loc"], error["msg"].removeprefix("Value error, "))]
        for loc, msg in faults:
            path, line = _locate(tree, loc)
            problems.append(f"{source}:{line}: {_yaml_path(path)}: {msg}")
    return list(dict.fromkeys(problems))


def parse_rubric(text: str, source: str = "<rubric>") -> Rubric:
    """Validate rubric YAML text; RubricError names `source`, the line and the YAML path.

    The message is the first fault (plus how many more); `.problems` lists all of them.
    """
    tree = _read_yaml(text, source)
    try:
        rubric = Rubric.model_validate(_plain(tree))
    except ValidationError as exc:
        problems = _problems(exc, tree, source)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RubricError(problems[0] + more, problems) from None
    rubric.content_hash = content_hash(text)
    return rubric


def lint_warnings(rubric: Rubric, text: str, source: str) -> list[str]:
    """Problems that do not stop scoring: declared languages a phrase set has no phrases for,
    phrase sets never used, and sections whose criteria are all bonus ones (a bonus only makes
    up for missed points of its own section, so such a section can never change a score)."""
    tree = _read_yaml(text, source)
    warnings = []
    for si, section in enumerate(rubric.sections):
        if all(c.bonus for c in section.criteria):
            line = _locate(tree, ("sections", si, "id"))[1]
            warnings.append(f"{source}:{line}: sections[{si}]: every criterion of section '{section.id}' is a "
                            f"bonus one, so it never changes a score (a bonus only makes up for missed points "
                            f"of its own section); move them into a scored section")
    used = {spec[1:] for _, spec, _ in rubric.phrase_references() if isinstance(spec, str)}
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
        size = path.stat().st_size
        if size > MAX_RUBRIC_BYTES:
            raise RubricError(f"{path}: file is {size / 2**20:.1f} MB; "
                              f"rubric files over {MAX_RUBRIC_BYTES // 2**20} MB are refused")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: rubric file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot read rubric ({exc})") from None
    return parse_rubric(text, str(path)), text
