"""Check kinds tested from YAML case files, the way sqlfluff tests its rules.

Each registered check kind has `tests/check_cases/<kind>.yaml`:

    phrase_sets: {hello: {en: ["thank you for calling"]}}   # the rubric's phrase sets
    settings: {hold_request: $hold}                          # optional rubric settings
    transcripts:                                             # optional: calls shared by cases
      support: &support                                      #   through YAML anchors
        language: en                                         #   (default en)
        duration: 44                                         #   (default: last end + 1 s)
        holds: [[10, 40]]                                    #   hold spans from metadata
        turns:
          - {role: agent, start: 0.5, end: 3.0, text: "Thank you for calling"}
    cases:
      - name: the agent greets
        transcript: *support
        check: {phrases: $hello}
        outcome: pass                  # pass | fail | na
        evidence:                      # optional: the whole evidence list, in order; each item
          - {kind: quote, quote: "Thank you for calling", role: agent, start: 0.5}  # given keys only
        note: ""                       # optional: the exact note
      - name: an unknown metric is refused
        check: {metric: loudness, max: 3}
        error: "unknown metric 'loudness'"   # text in the rubric error a trainer would see

Every case is scored through a one-criterion rubric built from the file's phrase sets and
settings, parsed from YAML text like a trainer's rubric (so `error` is checked against the
one-line `file:line: path: fault` message), then the check is evaluated on the transcript.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml import YAML

from qa_types import Outcome, Transcript
from scoring import RubricError, RubricScorer, parse_rubric
from scoring.checks import check_kinds
from tests.builders import line

CASES_DIR = Path(__file__).parent / "check_cases"
MODEL_KINDS = {"meaning"}  # kinds whose cases run a model (embeddings): marked slow


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseTurn(Strict):
    role: Literal["agent", "customer"]
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str


class CaseTranscript(Strict):
    language: str = "en"
    duration: float | None = Field(None, gt=0)
    holds: list[tuple[float, float]] = Field(default_factory=list)
    turns: list[CaseTurn] = Field(min_length=1)

    def build(self) -> Transcript:
        """The Transcript (words spread evenly over each turn, as tests/builders.py does)."""
        turns = sorted((line(t.role, t.start, t.end, t.text) for t in self.turns), key=lambda t: t.start)
        return Transcript(turns=turns, language=self.language, channels=2, holds=list(self.holds),
                          duration=self.duration or max(t.end for t in turns) + 1.0)


class ExpectedEvidence(Strict):
    kind: str | None = None
    quote: str | None = None
    role: str | None = None
    start: float | None = None
    end: float | None = None


class Case(Strict):
    name: str
    check: Any
    transcript: CaseTranscript | None = None
    outcome: Literal["pass", "fail", "na"] | None = None
    evidence: list[ExpectedEvidence] | None = None
    note: str | None = None
    error: str | None = None

    @model_validator(mode="after")
    def _expects_one_thing(self) -> "Case":
        if self.error is not None:
            if self.transcript or self.outcome or self.evidence is not None or self.note is not None:
                raise ValueError("an error case has only name, check and error")
        elif self.transcript is None or self.outcome is None:
            raise ValueError("a case needs transcript and outcome (or error)")
        return self


class CaseFile(Strict):
    phrase_sets: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    transcripts: dict[str, Any] = Field(default_factory=dict)  # only holds YAML anchors
    cases: list[Case] = Field(min_length=1)


def load_case_file(path: Path) -> CaseFile:
    return CaseFile.model_validate(YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")))


def case_files() -> dict[str, CaseFile]:
    return {path.stem: load_case_file(path) for path in sorted(CASES_DIR.glob("*.yaml"))}


def rubric_text(cases: CaseFile, check: Any) -> str:
    """A one-criterion rubric around `check`, as YAML text."""
    rubric = {"id": "cases", "name": "check cases", "sections": [{"id": "s", "criteria": [{"id": "c", "check": check}]}]}
    if cases.phrase_sets:
        rubric["phrase_sets"] = cases.phrase_sets
    if cases.settings:
        rubric["settings"] = cases.settings
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(rubric, out)
    return out.getvalue()


def _params():
    for kind, cases in case_files().items():
        for number, case in enumerate(cases.cases):
            marks = [pytest.mark.slow] if kind in MODEL_KINDS and case.error is None else []
            yield pytest.param(kind, cases, case, id=f"{kind}[{number}] {case.name}", marks=marks)


def _show(evidence) -> str:
    return "\n".join(f"  {{kind: {e.kind}, quote: {e.quote!r}, role: {e.role}, start: {e.start:g}, end: {e.end:g}}}"
                     for e in evidence) or "  (none)"


@pytest.mark.parametrize("kind, cases, case", list(_params()))
def test_check_case(kind: str, cases: CaseFile, case: Case):
    """The case's check scores its transcript with the expected outcome, evidence and note,
    or is refused with the expected rubric error."""
    source = f"check_cases/{kind}.yaml: {case.name}"
    if case.error is not None:
        with pytest.raises(RubricError) as info:
            parse_rubric(rubric_text(cases, case.check), source)
        assert case.error in str(info.value), f"expected error containing {case.error!r}, got {info.value}"
        return
    rubric = parse_rubric(rubric_text(cases, case.check), source)
    check = rubric.sections[0].criteria[0].check
    result = check.evaluate(RubricScorer(rubric).context(case.transcript.build()))
    detail = f"got {result.outcome.value}, note {result.note!r}, evidence:\n{_show(result.evidence)}"
    assert result.outcome == Outcome(case.outcome), detail
    if case.evidence is not None:
        assert len(result.evidence) == len(case.evidence), detail
        for got, want in zip(result.evidence, case.evidence):
            for key, value in want.model_dump(exclude_none=True).items():
                if key in ("start", "end"):
                    assert getattr(got, key) == pytest.approx(value, abs=0.01), f"evidence {key}: {detail}"
                else:
                    assert getattr(got, key) == value, f"evidence {key}: {detail}"
    if case.note is not None:
        assert result.note == case.note, detail


def test_every_check_kind_has_a_case_file():
    """A registered kind without tests/check_cases/<kind>.yaml fails here; so does a case file
    named after no kind."""
    files = {path.stem for path in CASES_DIR.glob("*.yaml")}
    assert not set(check_kinds()) - files, f"check kinds without a case file: {sorted(set(check_kinds()) - files)}"
    assert not files - set(check_kinds()), f"case files for no check kind: {sorted(files - set(check_kinds()))}"


@pytest.mark.parametrize("kind", sorted(check_kinds()))
def test_case_file_covers_pass_and_fail_of_its_kind(kind: str):
    """Each kind's file has a passing and a failing case, and each case's check is that kind
    (an error case at least names it)."""
    path = CASES_DIR / f"{kind}.yaml"
    if not path.exists():
        pytest.skip("no case file (test_every_check_kind_has_a_case_file fails)")
    cases = load_case_file(path).cases
    assert {"pass", "fail"} <= {c.outcome for c in cases}
    for case in cases:
        assert isinstance(case.check, dict) and kind in case.check, f"{case.name}: not a '{kind}' check"
        if case.error is None:
            assert [k for k in check_kinds() if k in case.check] == [kind], f"{case.name}: not a '{kind}' check"
