"""Rubric model: what a trainer writes in YAML, validated with pydantic.

A rubric has sections (with weights) of criteria (with points). Each criterion has one
`check`, may say when it `applies_when` (otherwise it is N/A), and may be `critical`
(`auto_fail` zeroes the call, `flag` marks it for review and otherwise scores like any
criterion) or a `bonus`. Phrases are given per language, or by name as `$set_name`
referring to the rubric's `phrase_sets`.

How a call is scored (scoring/engine.py): a section scores the points its criteria
awarded / the points of its applicable non-bonus criteria, at most 1; the call scores the
weighted mean of those section scores x 100. N/A criteria leave the sums, and a section
where no non-bonus criterion applies (or with weight 0) leaves the mean; when no section
is left the call scores 100. A passed bonus criterion adds its points to its section
(making up for missed points there, never above full marks) and a missed one costs
nothing, so a section of only bonus criteria never changes a score (`qa rubric lint`
warns). A failed `auto_fail` criterion makes the score 0.
"""
from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.checks import Check, PhraseSpec
from scoring.checks.phrases import LanguagePhrases

Loc = tuple[str | int, ...]


class RubricFaults(ValueError):
    """Faults that span the rubric (duplicate ids, unknown phrase sets, nothing to score),
    each with the YAML path it concerns; the loader turns them into one line each."""

    def __init__(self, faults: list[tuple[Loc, str]]):
        self.faults = faults
        first_loc, first = faults[0]
        more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
        super().__init__(f"{yaml_path(first_loc)}: {first}{more}")


def yaml_path(loc: Loc) -> str:
    """A YAML path as the loader prints it: sections[0].criteria[1].check."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Criterion(Strict):
    """One scored behaviour."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str | None = None
    points: float = Field(10, ge=0)
    critical: Literal["auto_fail", "flag"] | None = Field(
        None, description="auto_fail: a miss scores the whole call 0; flag: a miss marks the call for review.")
    bonus: bool = Field(False, description="When passed, its points make up for missed points of its own section "
                                           "(never above full marks); when missed, it costs nothing.")
    applies_when: Check | None = Field(None, description="A check that must pass for this criterion to apply (else N/A).")
    check: Check
    coaching: str = ""

    @property
    def title(self) -> str:
        return self.name or self.id.replace("_", " ").capitalize()


class Section(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str | None = None
    weight: float | None = Field(None, ge=0, description="Defaults to the sum of the criteria's points.")
    criteria: list[Criterion] = Field(min_length=1)

    @property
    def title(self) -> str:
        return self.name or self.id.replace("_", " ").capitalize()

    @property
    def effective_weight(self) -> float:
        return self.weight if self.weight is not None else sum(c.points for c in self.criteria)


class Settings(Strict):
    hold_request: PhraseSpec | None = Field(None, description="Agent phrases that announce a hold (usually '$hold_request').")
    hold_min_silence_s: float = Field(10, gt=0, description="Agent silence after a hold request that counts as a hold.")
    dead_air_hold_s: float = Field(20, gt=0, description="Silence of both parties that counts as an unannounced hold.")
    dead_air_min_s: float = Field(5, gt=0, description="Silence of both parties reported as dead air (shorter than a hold).")


class Band(Strict):
    """A verdict label for scores at or above `min`."""

    min: float = Field(ge=0, le=100)
    label: str


class Rubric(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    description: str = ""
    pass_mark: float = Field(80, ge=0, le=100)
    bands: list[Band] = Field(default_factory=list, description="Verdict labels by score, e.g. excellent >= 90.")
    languages: list[str] = Field(default_factory=list)
    settings: Settings = Field(default_factory=Settings)
    phrase_sets: dict[str, LanguagePhrases] = Field(default_factory=dict)
    sections: list[Section] = Field(min_length=1)
    content_hash: str = Field("", exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> "Rubric":
        faults = self.faults()
        if faults:
            raise RubricFaults(faults)
        return self

    def faults(self) -> list[tuple[Loc, str]]:
        """(YAML path, fault) of every rule that spans the rubric: unknown phrase sets,
        duplicate section or criterion ids, and weights or points that leave nothing to score."""
        faults: list[tuple[Loc, str]] = []
        for loc, spec, _ in self.phrase_references():
            if isinstance(spec, str):
                if not spec.startswith("$"):
                    faults.append((loc, f"phrase set reference must start with '$', got '{spec}'"))
                elif spec[1:] not in self.phrase_sets:
                    faults.append((loc, f"unknown phrase set '{spec}'"))
        sections: dict[str, int] = {}
        criteria: dict[str, tuple[int, int]] = {}
        for si, section in enumerate(self.sections):
            if section.id in sections:
                faults.append((("sections", si, "id"),
                               f"section id '{section.id}' is used twice (first at sections[{sections[section.id]}])"))
            sections.setdefault(section.id, si)
            for ci, criterion in enumerate(section.criteria):
                if criterion.id in criteria:
                    first = "sections[{}].criteria[{}]".format(*criteria[criterion.id])
                    faults.append((("sections", si, "criteria", ci, "id"),
                                   f"criterion id '{criterion.id}' is used twice (first at {first})"))
                criteria.setdefault(criterion.id, (si, ci))
        if not any(section.effective_weight > 0 and any(c.points > 0 and not c.bonus for c in section.criteria)
                   for section in self.sections):
            if all(section.effective_weight == 0 for section in self.sections):
                why = "every section has weight 0"
            elif all(c.points == 0 or c.bonus for _, c in self.criteria()):
                why = "no criterion (other than bonus ones) has points above 0"
            else:
                why = "no section with weight above 0 has a criterion (other than bonus ones) with points above 0"
            faults.append((("sections",), f"{why}, so every call would score 100"))
        return faults

    def criteria(self):
        """(section, criterion) pairs in rubric order."""
        for section in self.sections:
            for criterion in section.criteria:
                yield section, criterion

    def band(self, score: float) -> str | None:
        """Label of the highest band the score reaches."""
        reached = [b for b in self.bands if score >= b.min]
        return max(reached, key=lambda b: b.min).label if reached else None

    def phrase_references(self) -> list[tuple[tuple, PhraseSpec, bool]]:
        """(YAML path, phrase spec, fuzzy) of every phrase list the rubric uses."""
        refs: list[tuple[tuple, PhraseSpec, bool]] = []
        if self.settings.hold_request is not None:
            refs.append((("settings", "hold_request"), self.settings.hold_request, True))
        for si, section in enumerate(self.sections):
            for ci, criterion in enumerate(section.criteria):
                base = ("sections", si, "criteria", ci)
                for key in ("applies_when", "check"):
                    check = getattr(criterion, key)
                    if check is not None:
                        refs += [(base + (key,) + loc, spec, fuzzy) for loc, spec, fuzzy in check.phrase_specs()]
        return refs

    def phrase_uses(self) -> list[tuple[PhraseSpec, bool]]:
        """Distinct (phrase spec, fuzzy) pairs the rubric matches."""
        seen = {}
        for _, spec, fuzzy in self.phrase_references():
            seen.setdefault((repr(spec), fuzzy), (spec, fuzzy))
        return list(seen.values())

    def phrases(self, spec: PhraseSpec, language: str) -> list[str]:
        """The phrases of `spec` for one language ([] when none are written)."""
        table = self.phrase_sets.get(spec[1:], {}) if isinstance(spec, str) else spec
        return list(table.get(language, []))


def content_hash(text: str) -> str:
    """Identity of a rubric version: SHA-256 of its YAML text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
