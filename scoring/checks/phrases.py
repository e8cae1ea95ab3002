"""Phrase checks: something said (`phrases`) or never said (`absent`), by whom and where."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag

from qa_types import Evidence, Outcome
from scoring.checks.base import BaseCheck, CheckContext, CheckResult, check_kind
from scoring.checks.window import Window

_SET_REFERENCE = re.compile(r"\s*\$[A-Za-z_][\w-]*\s*")


def _what(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping" + (f" ({next(iter(value))}: ...)" if value else "")
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return type(value).__name__


def _text_phrase(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"a phrase must be text, got {_what(value)}; put it in quotes")
    return value


def _usable_phrase(phrase: str) -> str:
    if _SET_REFERENCE.fullmatch(phrase):
        raise ValueError(f"'{phrase.strip()}' is a phrase set reference, which cannot stand inside a phrase "
                         f"list (it would be matched as the word '{phrase.strip()[1:]}'); "
                         f"use `phrases: {phrase.strip()}` or copy its phrases")
    if not any(ch.isalnum() for ch in phrase):
        raise ValueError(f"phrase {phrase!r} has no letters or digits, so it can never match")
    return phrase


Phrase = Annotated[str, BeforeValidator(_text_phrase), AfterValidator(_usable_phrase)]
"""One phrase: text with at least one letter or digit, not a `$set` reference."""
LanguagePhrases = dict[str, list[Phrase]]


def _spec_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "spec[set]"
    if isinstance(value, dict):
        return "spec[languages]"
    return None


PhraseSpec = Annotated[
    Union[Annotated[str, Tag("spec[set]")], Annotated[LanguagePhrases, Tag("spec[languages]")]],
    Discriminator(_spec_kind, custom_error_type="phrase_spec",
                  custom_error_message="give $name of a phrase set, or phrases per language ({en: [...]})"),
]  # "$set_name" or {lang: [phrase, ...]}
Speaker = Literal["agent", "customer", "any"]


def spec_name(spec: PhraseSpec) -> str:
    return spec if isinstance(spec, str) else "the listed phrases"


class _PhraseSearch(BaseCheck):
    speaker: Speaker = Field("agent", description="Whose speech is searched: agent, customer or any.")
    within: Window | None = Field(None, description="Limit the search to part of the call.")
    fuzzy: bool = Field(True, description="Allow one or two letters of ASR slip in longer words.")

    def _search(self, spec: PhraseSpec, ctx: CheckContext):
        """(matches, windows searched) or a CheckResult when the search cannot run."""
        matcher = ctx.matcher(spec, ctx.call.lang, self.fuzzy)
        if matcher is None:
            return CheckResult.na(f"rubric has no '{ctx.call.lang}' phrases for {spec_name(spec)}")
        windows = self.within.spans(ctx) if self.within else None
        if windows == []:
            return CheckResult.na(f"no {self.within.describe().split(' ')[-1]} to search around")
        return ctx.call.find(matcher, self.speaker, windows), windows

    def _where(self) -> str:
        return f" {self.within.describe()}" if self.within else ""


@check_kind("phrases", order=10)
class PhrasesCheck(_PhraseSearch):
    """Passes when `speaker` says any of the phrases (matched on lemmas) in the window."""

    phrases: PhraseSpec = Field(description="Phrases per language, or $name of a phrase set.")

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        found = self._search(self.phrases, ctx)
        if isinstance(found, CheckResult):
            return found
        matches, windows = found
        if matches:
            return CheckResult(Outcome.PASS, [m.evidence() for m in matches])
        searched = [Evidence(quote="", role=self.speaker, start=round(a, 2), end=round(b, 2), kind="window")
                    for a, b in (windows or [(0.0, ctx.duration)])]
        return CheckResult(Outcome.FAIL, searched,
                           f"no {self.speaker} phrase of {spec_name(self.phrases)}{self._where()}")

    def describe(self) -> str:
        return f"{self.speaker} says one of {spec_name(self.phrases)}{self._where()}"

    def phrase_specs(self):
        return [(("phrases",), self.phrases, self.fuzzy)]


@check_kind("absent", order=20)
class AbsentCheck(_PhraseSearch):
    """Passes when `speaker` says none of the phrases in the window (e.g. abusive language).

    Exact lemmas by default: letter slips would turn harmless words into prohibited ones
    (Turkish "iptal", cancel, is one letter from "aptal", stupid) and auto-fail the call."""

    absent: PhraseSpec = Field(description="Prohibited phrases per language, or $name of a phrase set.")
    fuzzy: bool = Field(False, description="Allow letter slips (off by default for prohibited phrases).")

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        found = self._search(self.absent, ctx)
        if isinstance(found, CheckResult):
            return found
        matches, _ = found
        if matches:
            return CheckResult(Outcome.FAIL, [m.evidence() for m in matches], "prohibited phrase said")
        return CheckResult(Outcome.PASS, note=f"no {self.speaker} phrase of {spec_name(self.absent)}")

    def describe(self) -> str:
        return f"{self.speaker} never says any of {spec_name(self.absent)}{self._where()}"

    def phrase_specs(self):
        return [(("absent",), self.absent, self.fuzzy)]
