"""Score a transcript against a rubric: criterion outcomes with evidence, sections, verdict."""
from __future__ import annotations

from qa_types import CriterionResult, Evidence, Outcome, Scorecard, SectionScore, Transcript
from scoring.calltext import CallText
from scoring.events import Event, find_holds
from scoring.metrics import compute_metrics
from scoring.rubric import Check, Criterion, PhraseSpec, Rubric, Window
from scoring.text import PhraseMatcher

MAX_EVIDENCE = 3
EVENT_TOLERANCE_S = 2.0


class RubricScorer:
    """Scores many calls against one rubric; phrase matchers are compiled once per language."""

    def __init__(self, rubric: Rubric):
        self.rubric = rubric
        self._matchers: dict[tuple, PhraseMatcher | None] = {}

    def matcher(self, spec: PhraseSpec | None, lang: str, fuzzy: bool) -> PhraseMatcher | None:
        """Compiled matcher for a phrase spec in one language; None when it has no phrases there."""
        if spec is None:
            return None
        key = (repr(spec), lang, fuzzy)
        if key not in self._matchers:
            phrases = self.rubric.phrases(spec, lang)
            self._matchers[key] = PhraseMatcher(phrases, lang, fuzzy) if phrases else None
        return self._matchers[key]

    def score(self, transcript: Transcript) -> Scorecard:
        """The scorecard of one call."""
        call = CallText(transcript)
        settings = self.rubric.settings
        holds = find_holds(
            call,
            self.matcher(settings.hold_request, call.lang, True),
            settings.hold_min_silence_s,
            settings.dead_air_hold_s,
        )
        results = [
            self._criterion(section.id, criterion, call, {"hold": holds})
            for section, criterion in self.rubric.criteria()
        ]
        card = self._total(results)
        card.metrics = compute_metrics(transcript, [(h.start, h.end) for h in holds])
        return card

    def _criterion(self, section_id: str, criterion: Criterion, call: CallText,
                   events: dict[str, list[Event]]) -> CriterionResult:
        def result(outcome: Outcome, evidence=(), note="") -> CriterionResult:
            return CriterionResult(
                section_id=section_id,
                criterion_id=criterion.id,
                name=criterion.title,
                outcome=outcome,
                points_awarded=criterion.points if outcome == Outcome.PASS else 0.0,
                points_possible=0.0 if outcome == Outcome.NA else criterion.points,
                critical=criterion.critical,
                evidence=list(evidence)[:MAX_EVIDENCE],
                note=note,
            )

        condition = criterion.applies_when
        if condition is not None:
            if condition.event is not None and not events.get(condition.event):
                return result(Outcome.NA, note=f"no {condition.event} in this call")
            if condition.phrases is not None:
                trigger = self.matcher(condition.phrases, call.lang, condition.fuzzy)
                hits = call.find(trigger, condition.speaker) if trigger else []
                if not hits:
                    return result(Outcome.NA, note=f"condition not met: no {condition.speaker} phrase of {_spec_name(condition.phrases)}")

        check = criterion.check
        matcher = self.matcher(check.phrase_spec, call.lang, check.fuzzy)
        if matcher is None:
            return result(Outcome.NA, note=f"rubric has no '{call.lang}' phrases for this check")
        windows = _windows(check.within, call, events)
        if windows == []:
            return result(Outcome.NA, note="the window of this check does not occur in the call")
        matches = call.find(matcher, check.speaker, windows)
        evidence = [m.evidence() for m in matches]
        if check.absent is not None:
            if evidence:
                return result(Outcome.FAIL, evidence, note="prohibited phrase said")
            return result(Outcome.PASS, note="no prohibited phrase")
        if evidence:
            return result(Outcome.PASS, evidence)
        searched = [Evidence(quote="", role=check.speaker, start=round(a, 2), end=round(b, 2), kind="window")
                    for a, b in (windows or [(0.0, call.transcript.duration)])]
        return result(Outcome.FAIL, searched, note=_missing_note(check))

    def _total(self, results: list[CriterionResult]) -> Scorecard:
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
        score = 100.0 * sum(s.weight * s.fraction for s in scored) / total_weight if total_weight else 100.0
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
        )


def _spec_name(spec: PhraseSpec) -> str:
    return spec if isinstance(spec, str) else "the listed phrases"


def _missing_note(check: Check) -> str:
    where = ""
    if check.within is not None:
        w = check.within
        where = (f" in the first {w.first_seconds:g} s" if w.first_seconds else
                 f" in the last {w.last_seconds:g} s" if w.last_seconds else
                 f" within {w.seconds:g} s before the {w.before_event}" if w.before_event else
                 f" within {w.seconds:g} s after the {w.after_event}")
    return f"no {check.speaker} phrase of {_spec_name(check.phrase_spec)}{where}"


def _windows(window: Window | None, call: CallText, events: dict[str, list[Event]]):
    """Time windows to search, None for the whole call, [] when the anchoring event is absent."""
    if window is None:
        return None
    duration = call.transcript.duration
    if window.first_seconds is not None:
        return [(0.0, window.first_seconds)]
    if window.last_seconds is not None:
        return [(max(0.0, duration - window.last_seconds), duration)]
    if window.before_event is not None:
        return [(max(0.0, e.start - window.seconds), e.start + EVENT_TOLERANCE_S)
                for e in events.get(window.before_event, [])]
    return [(e.end - EVENT_TOLERANCE_S, e.end + window.seconds) for e in events.get(window.after_event, [])]
