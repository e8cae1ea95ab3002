"""Rubric test cases kept beside a rubric (`NAME.tests.yaml`), in the spirit of sqlfluff's
and semgrep's rule tests: short transcripts with the expected outcome per criterion and,
optionally, the expected call score, band and flags.

    cases:
      - name: greets in Russian
        language: ru
        duration: 30                 # optional (default: last turn's end + 1 s)
        turns:                       # [role, start s, end s, text]
          - [agent, 0.5, 4, "Здравствуйте, спасибо за звонок!"]
        expect: {greeting: pass, empathy: na}
        expect_auto_fail: false      # optional
        expect_score: 87.5           # optional: the call score (to 0.01)
        expect_band: good            # optional: the band label (null: no band reached)
        expect_flags: [verification] # optional: the flagged criteria, in any order

A case needs `expect` or at least one of the expect_* keys. `run_cases` reports every
difference as one line; `qa rubric test` prints them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from qa_types import Role, Transcript, Turn
from scoring.engine import RubricScorer
from scoring.rubric import Rubric
from scoring.rubric_loader import _locate, _plain, _yaml_path, read_yaml


class RubricTestError(Exception):
    """The test file itself is broken."""


class TestCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    __test__ = False  # not a pytest class

    name: str
    language: str
    duration: float | None = Field(None, gt=0)
    turns: list[tuple[Literal["agent", "customer"], float, float, str]] = Field(min_length=1)
    expect: dict[str, Literal["pass", "fail", "na"]] = Field(default_factory=dict)
    expect_auto_fail: bool | None = None
    expect_score: float | None = Field(None, ge=0, le=100)
    expect_band: str | None = None  # compared only when the case gives it (null: no band)
    expect_flags: list[str] | None = None

    @model_validator(mode="after")
    def _expects_something(self) -> "TestCase":
        if not self.expect and not ({"expect_auto_fail", "expect_score", "expect_band", "expect_flags"}
                                    & self.model_fields_set):
            raise ValueError("a case needs expect (outcome per criterion) or expect_score, expect_band, "
                             "expect_flags or expect_auto_fail")
        return self


class TestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    __test__ = False

    cases: list[TestCase] = Field(min_length=1)


@dataclass
class CaseResult:
    name: str
    language: str
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def tests_path_for(rubric_file: str | Path) -> Path:
    """`rubrics/x.yaml` -> `rubrics/x.tests.yaml`."""
    path = Path(rubric_file)
    return path.with_name(path.name.removesuffix(".yaml").removesuffix(".yml") + ".tests.yaml")


def load_cases(path: Path) -> list[TestCase]:
    """The cases of a test file; RubricTestError (one line: file:line: path: fault) when it is
    broken, too large, or an alias bomb (the same guards as rubric files)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricTestError(f"{path}: no test file (expected beside the rubric)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricTestError(f"{path}: cannot read test file ({exc})") from None
    tree = read_yaml(text, str(path), RubricTestError)
    try:
        return TestFile.model_validate(_plain(tree)).cases
    except ValidationError as exc:
        first = exc.errors()[0]
        where, line = _locate(tree, first["loc"])
        raise RubricTestError(f"{path}:{line}: {_yaml_path(where)}: {first['msg']}") from None


def case_transcript(case: TestCase) -> Transcript:
    """The case's turns as a two-channel Transcript (roles known, no word times)."""
    turns = [Turn(speaker=role, role=Role(role), start=start, end=end, text=text)
             for role, start, end, text in case.turns]
    turns.sort(key=lambda t: t.start)
    duration = case.duration or max(t.end for t in turns) + 1.0
    return Transcript(turns=turns, language=case.language, duration=duration, channels=2)


def run_cases(rubric: Rubric, cases: list[TestCase]) -> list[CaseResult]:
    """Score every case and compare with its expectations: outcome per criterion, auto-fail,
    and (where given) score, band and flags; each difference is one line of `mismatches`."""
    scorer = RubricScorer(rubric)
    known = {c.id for _, c in rubric.criteria()}
    results = []
    for case in cases:
        outcome = CaseResult(case.name, case.language)
        card = scorer.score(case_transcript(case))
        for criterion_id, expected in case.expect.items():
            if criterion_id not in known:
                outcome.mismatches.append(f"unknown criterion '{criterion_id}'")
                continue
            got = card.result(criterion_id)
            if got.outcome.value != expected:
                outcome.mismatches.append(f"{criterion_id}: expected {expected}, got {got.outcome.value} ({got.note})")
        if case.expect_auto_fail is not None and card.auto_failed != case.expect_auto_fail:
            outcome.mismatches.append(f"auto_fail: expected {case.expect_auto_fail}, got {card.auto_failed}")
        if case.expect_score is not None and abs(card.score - case.expect_score) > 0.005:
            outcome.mismatches.append(f"score: expected {case.expect_score:g}, got {card.score:g} ({_sections(card)})")
        if "expect_band" in case.model_fields_set and card.band != case.expect_band:
            outcome.mismatches.append(f"band: expected {case.expect_band}, got {card.band} (score {card.score:g})")
        if case.expect_flags is not None:
            for criterion_id in sorted(set(case.expect_flags) - known):
                outcome.mismatches.append(f"expect_flags: unknown criterion '{criterion_id}'")
            if sorted(card.flags) != sorted(set(case.expect_flags) & known):
                outcome.mismatches.append(f"flags: expected {sorted(case.expect_flags)}, got {sorted(card.flags)}")
        results.append(outcome)
    return results


def _sections(card) -> str:
    """Each section's points and weight, e.g. "opening 10/20 w30, empathy N/A w20"."""
    return ", ".join(f"{s.section_id} " + (f"{s.points_awarded:g}/{s.points_possible:g}" if s.points_possible else "N/A")
                     + f" w{s.weight:g}" for s in card.sections)


def coverage(rubric: Rubric, cases: list[TestCase]) -> dict[str, dict[str, set[str]]]:
    """criterion id -> {"pass": languages, "fail": languages} covered by the cases."""
    table = {c.id: {"pass": set(), "fail": set()} for _, c in rubric.criteria()}
    for case in cases:
        for criterion_id, expected in case.expect.items():
            if criterion_id in table and expected in ("pass", "fail"):
                table[criterion_id][expected].add(case.language)
    return table
