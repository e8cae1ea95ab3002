"""Meaning checks: a sentence that means what one of the examples means, in any language."""
from __future__ import annotations

import hashlib
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from qa_types import Evidence, Outcome
from scoring.checks.base import BaseCheck, CheckContext, CheckResult, check_kind
from scoring.checks.phrases import Speaker
from scoring.checks.window import Window

DEFAULT_THRESHOLD = 0.90
"""Cosine similarity (multilingual-e5-small, "query: " prefix) a sentence needs to its nearest
example. e5 similarities are compressed: unrelated sentences still score ~0.80-0.85, while
paraphrases and translations of a short example measured 0.92-0.99 ("Thanks for holding." 0.92,
"Спасибо, что подождали." 0.95 against "Thank you for waiting"). 0.90 keeps those and drops
most unrelated or opposite sentences ("I can't help you with that." 0.88 against "How can I
help you?"). A short sentence sharing a word with an example can still score above it
("Wait." 0.91, "Bu konuda size yardımcı olamam." 0.92): list such near misses as
counter_examples."""

Example = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Fitted(BaseModel):
    """How `qa rubric fit` chose a threshold (written beside it; `qa rubric explain` shows it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    cases: int = Field(ge=0, description="Test cases whose outcome depended on this check.")
    right: int = Field(ge=0, description="Of those, how many the fitted threshold gets right.")
    languages: list[str] = Field(default_factory=list, description="Languages of those cases.")
    examples: str = Field(description="Fingerprint of the examples and counter-examples it was fitted with.")


class Meaning(BaseModel):
    """What a `meaning` check looks for."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    examples: list[Example] = Field(min_length=1, description="Sentences that say it, in any languages.")
    counter_examples: list[Example] = Field(
        default_factory=list, description="Near misses that do not say it; a sentence closer to one of them fails.")
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, le=1,
                             description="Cosine similarity to the nearest example a sentence needs.")
    fitted: Fitted | None = Field(None, description="Written by `qa rubric fit` with the threshold it fitted.")

    def fingerprint(self) -> str:
        """A short hash of the examples and counter-examples (a fit is stale when it changes)."""
        text = "\x1f".join(self.examples) + "\x1e" + "\x1f".join(self.counter_examples)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@check_kind("meaning", order=15)
class MeaningCheck(BaseCheck):
    """Passes when a sentence of `speaker` in the window means what one of the examples means:
    its cosine similarity to the nearest example is at least `threshold` and it is closer to
    the examples than to every counter-example."""

    meaning: Meaning = Field(description="Example sentences, optional counter-examples and threshold.")
    speaker: Speaker = Field("agent", description="Whose sentences are compared: agent, customer or any.")
    within: Window | None = Field(None, description="Limit the search to part of the call.")

    def _where(self) -> str:
        return f" {self.within.describe()}" if self.within else ""

    def _name(self) -> str:
        return repr(self.meaning.examples[0]) + (f" (or {len(self.meaning.examples) - 1} more)"
                                                 if len(self.meaning.examples) > 1 else "")

    def hits(self, ctx: CheckContext, windows: list[tuple[float, float]] | None):
        """[(sentence, nearest example, similarity)] of matching sentences, and the best miss."""
        from scoring.meaning import call_sentences, example_columns

        spec = self.meaning
        found = call_sentences(ctx.call)
        mask = found.spoken_by(self.speaker)
        if windows is not None:
            starts, ends = found.times
            inside = np.zeros(len(found.sentences), dtype=bool)
            for a, b in windows:
                inside |= (starts < b) & (ends > a)
            mask = mask & inside
        chosen = np.flatnonzero(mask)
        if not chosen.size:
            return [], None
        examples, counter = example_columns(spec.examples), example_columns(spec.counter_examples)
        sims = found.similarities()[chosen]
        to_examples = sims[:, examples]
        nearest = to_examples.argmax(axis=1)
        similarity = to_examples[np.arange(len(chosen)), nearest]
        worst = (sims[:, counter].max(axis=1) if spec.counter_examples
                 else np.full(len(chosen), -1.0, dtype=np.float32))
        passed = (similarity.astype(np.float64) >= spec.threshold) & (similarity > worst)
        rows = [(found.sentences[i], spec.examples[k], float(v)) for i, k, v in zip(chosen, nearest, similarity)]
        hits = [row for row, ok in zip(rows, passed) if ok]
        misses = [row for row, ok in zip(rows, passed) if not ok]
        best = None
        for row in misses:  # the first of the most similar, as a scan in sentence order keeps
            if best is None or row[2] > best[2]:
                best = row
        return hits, best

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        windows = self.within.spans(ctx) if self.within else None
        if windows == []:
            return CheckResult.na(f"no {self.within.describe().split(' ')[-1]} to search around")
        found, best = self.hits(ctx, windows)
        if found:
            top = max(found, key=lambda r: r[2])
            return CheckResult(Outcome.PASS, [_quote(s) for s, _, _ in found],
                               f"{top[0].text!r} ~ {top[1]!r} ({top[2]:.2f})")
        searched = [Evidence(quote="", role=self.speaker, start=round(a, 2), end=round(b, 2), kind="window")
                    for a, b in (windows or [(0.0, ctx.duration)])]
        closest = f"; closest {best[0].text!r} ~ {best[1]!r} ({best[2]:.2f})" if best else ""
        return CheckResult(Outcome.FAIL, searched,
                           f"no {self.speaker} sentence meaning {self._name()}{self._where()}{closest}")

    def occurrences(self, ctx: CheckContext) -> list[Evidence]:
        """Evidence of every matching sentence anywhere in the call (for sequence steps)."""
        return [_quote(s) for s, _, _ in self.hits(ctx, self.within.spans(ctx) if self.within else None)[0]]

    def describe(self) -> str:
        spec = self.meaning
        if spec.fitted is None:
            how = "not fitted"
        else:
            how = f"fitted on {spec.fitted.right}/{spec.fitted.cases} test cases" + (
                "" if spec.fitted.examples == spec.fingerprint() else ", examples changed since")
        return (f"{self.speaker} says something meaning {self._name()}{self._where()} "
                f"(similarity ≥ {spec.threshold:g}, {how})")


def _quote(sentence) -> Evidence:
    return Evidence(quote=sentence.text, role=sentence.role.value, start=sentence.start, end=sentence.end)
