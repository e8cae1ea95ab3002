"""Score a transcript against a rubric: criterion outcomes with evidence, sections, verdict."""
from __future__ import annotations

from typing import TYPE_CHECKING

from qa_types import CriterionResult, Outcome, Scorecard, SectionScore, Transcript
from scoring.calltext import CallText
from scoring.checks import CheckContext
from scoring.checks.phrases import PhraseSpec
from scoring.events import find_holds
from scoring.metrics import compute_metrics
from scoring.rubric import Criterion, Rubric
from scoring.text import PhraseIndex, PhraseList, TurnTokens

if TYPE_CHECKING:
    from scoring.meaning import CallSentences

MAX_EVIDENCE = 3


class RubricScorer:
    """Scores many calls against one rubric; phrase matchers are compiled once per language."""

    def __init__(self, rubric: Rubric):
        self.rubric = rubric
        self._indexes: dict[str, PhraseIndex] = {}
        self._lists: dict[tuple, tuple[PhraseSpec, PhraseList | None]] = {}

    def _index(self, lang: str) -> PhraseIndex:
        """One phrase index per language holding every phrase list the rubric uses."""
        if lang not in self._indexes:
            self._indexes[lang] = PhraseIndex(lang)
            for spec, fuzzy in self.rubric.phrase_uses():
                self.matcher(spec, lang, fuzzy)
        return self._indexes[lang]

    def matcher(self, spec: PhraseSpec | None, lang: str, fuzzy: bool) -> PhraseList | None:
        """The phrase list of `spec` in one language; None when it has no phrases there.

        Looked up once per (spec, language, fuzzy): checks ask for it on every call, and an
        inline list of thousands of phrases should not be copied and labelled each time."""
        if spec is None:
            return None
        key = (spec if isinstance(spec, str) else id(spec), lang, fuzzy)
        index = self._index(lang)  # on a language's first use, registers every phrase use (this one too)
        cached = self._lists.get(key)
        if cached is not None and (isinstance(spec, str) or cached[0] is spec):
            return cached[1]
        phrases = self.rubric.phrases(spec, lang)
        found = index.add(f"{fuzzy}|{spec!r}", phrases, fuzzy) if phrases else None
        self._lists[key] = (spec, found)  # holding `spec` keeps its id from being reused
        return found

    def context(self, transcript: Transcript, sentences: CallSentences | None = None,
                tokens: list[TurnTokens] | None = None) -> CheckContext:
        """Everything checks read, computed once per call: text, holds, metrics; `sentences` and
        `tokens`: the call's stored sentences and vectors and its turns' tokens, if any (see
        `CallText`)."""
        call = CallText(transcript, sentences, tokens)
        settings = self.rubric.settings
        holds = find_holds(call, self.matcher(settings.hold_request, call.lang, True),
                           settings.hold_min_silence_s, settings.dead_air_hold_s)
        metrics = compute_metrics(transcript, [(h.start, h.end) for h in holds], settings.dead_air_min_s)
        return CheckContext(call=call, events={"hold": holds}, metrics=metrics, matcher=self.matcher)

    def score(self, transcript: Transcript, sentences: CallSentences | None = None) -> Scorecard:
        """The scorecard of one call (`sentences`: its stored sentences, if any)."""
        return self.score_context(self.context(transcript, sentences))

    def score_context(self, ctx: CheckContext) -> Scorecard:
        """The scorecard of the call of `ctx` (`ctx.call.sentences` holds the call's sentences
        afterwards if a meaning check embedded them)."""
        results = [self._criterion(section.id, criterion, ctx) for section, criterion in self.rubric.criteria()]
        card = self._total(results)
        card.metrics = ctx.metrics
        return card

    def final_scorecard(self, machine: dict[str, str], answers: dict[str, str]) -> Scorecard:
        """The scorecard of a call whose criteria the machine answered `machine` (criterion_id ->
        pass/fail/na) with the human `answers` in their place: points, sections, score, verdict,
        band and flags computed as for a machine scorecard (no evidence, no metrics)."""
        results = []
        for section, criterion in self.rubric.criteria():
            outcome = Outcome(answers.get(criterion.id) or machine.get(criterion.id) or Outcome.NA.value)
            results.append(self._result(section.id, criterion, outcome, [], ""))
        return self._total(results)

    def _result(self, section_id: str, criterion: Criterion, outcome: Outcome, evidence: list,
                note: str) -> CriterionResult:
        return CriterionResult(
            section_id=section_id,
            criterion_id=criterion.id,
            name=criterion.title,
            outcome=outcome,
            points_awarded=criterion.points if outcome == Outcome.PASS else 0.0,
            points_possible=criterion.points if outcome != Outcome.NA and not criterion.bonus else 0.0,
            critical=criterion.critical,
            evidence=evidence[:MAX_EVIDENCE],
            note=note,
        )

    def _criterion(self, section_id: str, criterion: Criterion, ctx: CheckContext) -> CriterionResult:
        """One criterion's outcome: N/A when `applies_when` does not pass, else its check's.
        Points possible are 0 for N/A and bonus criteria; evidence is cut to MAX_EVIDENCE items."""
        outcome, evidence, note = Outcome.NA, [], ""
        condition = criterion.applies_when.evaluate(ctx) if criterion.applies_when else None
        if condition is not None and condition.outcome != Outcome.PASS:
            note = f"does not apply: {condition.note or criterion.applies_when.describe()}"
        else:
            checked = criterion.check.evaluate(ctx)
            outcome, evidence, note = checked.outcome, checked.evidence, checked.note
        return self._result(section_id, criterion, outcome, evidence, note)

    def _total(self, results: list[CriterionResult]) -> Scorecard:
        """Section points, the weighted score (see scoring/rubric.py), verdict, band and flags."""
        sections = []
        for section in self.rubric.sections:
            own = [r for r in results if r.section_id == section.id]
            sections.append(SectionScore(
                section_id=section.id,
                name=section.title,
                weight=section.effective_weight,
                points_awarded=sum(r.points_awarded for r in own),
                points_possible=sum(r.points_possible for r in own),
            ))
        scored = [s for s in sections if s.fraction is not None and s.weight > 0]
        total_weight = sum(s.weight for s in scored)
        score = (100.0 * sum(s.weight * min(s.fraction, 1.0) for s in scored) / total_weight
                 if total_weight else 100.0)
        auto_failed = any(r.auto_failed for r in results)
        if auto_failed:
            score = 0.0
        flags = [r.criterion_id for r in results if r.critical == "flag" and r.outcome == Outcome.FAIL]
        return Scorecard(
            rubric_id=self.rubric.id,
            rubric_hash=self.rubric.content_hash,
            results=results,
            sections=sections,
            score=round(score, 2),
            passed=not auto_failed and score >= self.rubric.pass_mark,
            auto_failed=auto_failed,
            pass_mark=self.rubric.pass_mark,
            flags=flags,
            band=self.rubric.band(score),
        )
