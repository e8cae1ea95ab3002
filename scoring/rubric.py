"""Rubric model: what a trainer writes in YAML, validated with pydantic.

A rubric has sections (with weights) of criteria (with points). Each criterion has one
`check`, may say when it `applies_when` (otherwise it is N/A), and may be `critical`
(`auto_fail` zeroes the call, `flag` only marks it). Phrases are given per language, or
by name as `$set_name` referring to the rubric's `phrase_sets`.
"""
from __future__ import annotations

import hashlib
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LanguagePhrases = dict[str, list[str]]
PhraseSpec = Union[str, LanguagePhrases]  # "$name" or {lang: [phrase, ...]}
Speaker = Literal["agent", "customer", "any"]
EVENTS = ("hold",)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Window(Strict):
    """Where in the call a phrase must be said. At most one way of placing it."""

    first_seconds: float | None = Field(None, gt=0, description="Only the first N seconds of the call.")
    last_seconds: float | None = Field(None, gt=0, description="Only the last N seconds of the call.")
    before_event: Literal["hold"] | None = Field(None, description="Just before each event of this kind.")
    after_event: Literal["hold"] | None = Field(None, description="Just after each event of this kind.")
    seconds: float = Field(30, gt=0, description="Width of the window around an event.")

    @model_validator(mode="after")
    def _one_placement(self) -> "Window":
        given = [k for k in ("first_seconds", "last_seconds", "before_event", "after_event")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of first_seconds, last_seconds, before_event, after_event")
        return self


class Check(Strict):
    """What must (phrases) or must not (absent) be said, by whom, and where."""

    phrases: PhraseSpec | None = Field(None, description="Pass when any phrase is said.")
    absent: PhraseSpec | None = Field(None, description="Pass when none of these phrases is said.")
    speaker: Speaker = Field("agent", description="Whose speech is searched.")
    within: Window | None = Field(None, description="Limit the search to part of the call.")
    fuzzy: bool = Field(True, description="Allow small ASR slips in longer words.")

    @model_validator(mode="after")
    def _one_kind(self) -> "Check":
        if (self.phrases is None) == (self.absent is None):
            raise ValueError("give exactly one of 'phrases' or 'absent'")
        return self

    @property
    def phrase_spec(self) -> PhraseSpec:
        return self.phrases if self.phrases is not None else self.absent


class AppliesWhen(Strict):
    """A condition for the criterion to apply; when it does not hold the result is N/A."""

    event: Literal["hold"] | None = Field(None, description="The call has at least one such event.")
    phrases: PhraseSpec | None = Field(None, description="Someone says one of these phrases.")
    speaker: Speaker = "customer"
    fuzzy: bool = True

    @model_validator(mode="after")
    def _one_condition(self) -> "AppliesWhen":
        if (self.event is None) == (self.phrases is None):
            raise ValueError("give exactly one of 'event' or 'phrases'")
        return self


class Criterion(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str | None = None
    points: float = Field(10, ge=0)
    critical: Literal["auto_fail", "flag"] | None = None
    applies_when: AppliesWhen | None = None
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


class Rubric(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    description: str = ""
    pass_mark: float = Field(80, ge=0, le=100)
    languages: list[str] = Field(default_factory=list)
    settings: Settings = Field(default_factory=Settings)
    phrase_sets: dict[str, LanguagePhrases] = Field(default_factory=dict)
    sections: list[Section] = Field(min_length=1)
    content_hash: str = Field("", exclude=True)

    @field_validator("sections")
    @classmethod
    def _unique_ids(cls, sections: list[Section]) -> list[Section]:
        seen: set[str] = set()
        for section in sections:
            for criterion in section.criteria:
                if criterion.id in seen:
                    raise ValueError(f"criterion id '{criterion.id}' is used twice")
                seen.add(criterion.id)
        return sections

    def criteria(self):
        """(section, criterion) pairs in rubric order."""
        for section in self.sections:
            for criterion in section.criteria:
                yield section, criterion

    def phrases(self, spec: PhraseSpec, language: str) -> list[str]:
        """The phrases of `spec` for one language ([] when none are written)."""
        table = self.phrase_sets.get(spec[1:], {}) if isinstance(spec, str) else spec
        return list(table.get(language, []))


def content_hash(text: str) -> str:
    """Identity of a rubric version: SHA-256 of its YAML text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
