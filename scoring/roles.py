"""Which speaker of a call is the agent.

A call whose turns already carry roles keeps them: a stereo recording (each party on its own
channel, method "channel") or an imported transcript with agent/customer labels ("labels"); a
warning is added when the rubric's agent phrases clearly come from the customer's side. A call
without roles (a diarized mono recording, an imported transcript whose speakers are only names
such as "A" and "B") gets them decided, in order: an enrolled agent voiceprint that one speaker
clearly matches; else the rubric's own agent phrases (whoever says the opening lines first gets
extra weight, then every agent phrase counts); else the first speaker. One speaker alone is
taken as the agent. The decision and its confidence travel with the transcript into the
database and the reports.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

from qa_types import Role, RoleDecision, Transcript
from scoring.calltext import CallText
from scoring.checks import BaseCheck
from scoring.checks.combine import NotCheck
from scoring.checks.phrases import PhrasesCheck
from scoring.engine import RubricScorer

VOICE_MATCH = 0.5  # cosine similarity above which a speaker counts as the enrolled agent
VOICE_MARGIN = 0.3  # similarity lead over the next speaker that gives full confidence
OPENING_WEIGHT = 3  # saying the opening lines first counts as this many agent phrases


def _positive_phrase_checks(check: BaseCheck | None) -> Iterator[PhrasesCheck]:
    """Phrase checks whose hits show what a speaker says (not under a `not`)."""
    if check is None or isinstance(check, NotCheck):
        return
    if isinstance(check, PhrasesCheck):
        yield check
        return
    for name in type(check).model_fields:
        value = getattr(check, name)
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, BaseCheck):
                yield from _positive_phrase_checks(child)


def _is_opening(check: PhrasesCheck) -> bool:
    return check.within is not None and (check.within.first_seconds or check.within.first_turns) is not None


def _by_voice(similarity: dict[str, float]) -> RoleDecision | None:
    ranked = sorted(similarity.items(), key=lambda kv: kv[1], reverse=True)
    if not ranked or ranked[0][1] < VOICE_MATCH:
        return None
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = min(1.0, max(0.0, (ranked[0][1] - runner_up) / VOICE_MARGIN))
    detail = "voiceprint similarity " + ", ".join(f"{s} {v:.2f}" for s, v in ranked)
    return RoleDecision(ranked[0][0], "voiceprint", round(confidence, 2), detail)


def _by_phrases(transcript: Transcript, scorer: RubricScorer) -> RoleDecision | None:
    call = CallText(transcript)
    evidence: Counter[str] = Counter()
    first_opening: tuple[float, str] | None = None
    for _, criterion in scorer.rubric.criteria():
        for check in _positive_phrase_checks(criterion.check):
            if check.speaker != "agent":
                continue
            matcher = scorer.matcher(check.phrases, call.lang, check.fuzzy)
            if matcher is None:
                continue
            for match in call.find(matcher, "any"):
                speaker = transcript.turns[match.turn_index].speaker
                evidence[speaker] += 1
                if _is_opening(check) and (first_opening is None or match.start < first_opening[0]):
                    first_opening = (match.start, speaker)
    if first_opening is not None:
        evidence[first_opening[1]] += OPENING_WEIGHT
    if not evidence:
        return None
    agent, points = evidence.most_common(1)[0]
    detail = "agent phrases " + ", ".join(f"{s} {n}" for s, n in evidence.most_common())
    if first_opening is not None:
        detail += f"; opening lines first said by {first_opening[1]} at {first_opening[0]:.1f} s"
    return RoleDecision(agent, "phrases", round(points / sum(evidence.values()), 2), detail)


SWAPPED_CONFIDENCE = 0.7  # share of the agent-phrase evidence the customer's channel must hold


def _swapped_roles_warning(transcript: Transcript, scorer: RubricScorer, imported: bool) -> str | None:
    """A warning when the rubric's agent phrases clearly come from the customer's side (opening
    lines first): on a stereo call the agent channel in the metadata is likely wrong, on an
    imported transcript its role labels."""
    by_phrases = _by_phrases(transcript, scorer)
    speaker_roles = {t.speaker: t.role for t in transcript.turns}
    if (by_phrases is None or speaker_roles.get(by_phrases.agent_speaker) is not Role.CUSTOMER
            or by_phrases.confidence < SWAPPED_CONFIDENCE):
        return None
    if imported:
        return (f"roles may be swapped: the agent's phrases come from the speaker labelled customer "
                f"({by_phrases.detail}); check the transcript's role labels")
    return (f"channels may be swapped: the agent's phrases come from the customer's channel "
            f"({by_phrases.detail}); check the call's agent_channel")


def _labelled_agent(transcript: Transcript) -> str:
    """The speaker label(s) of the agent's turns, for the decision record."""
    names = dict.fromkeys(t.speaker for t in transcript.turns if t.role is Role.AGENT)
    return ", ".join(names) or Role.AGENT.value


def decide_roles(transcript: Transcript, scorer: RubricScorer) -> Transcript:
    """`transcript` with turn roles set and `role_decision` filled in (unchanged when it already
    has a decision, or has no turns). Turns that carry roles keep them."""
    if transcript.role_decision is not None:
        return transcript
    speakers = transcript.speakers
    if any(turn.role is not Role.UNKNOWN for turn in transcript.turns):
        imported = transcript.channels == 0  # no audio: the roles are the transcript's labels
        decision = (RoleDecision(_labelled_agent(transcript), "labels", 1.0,
                                 "roles as labelled in the imported transcript") if imported else
                    RoleDecision("agent", "channel", 1.0, "stereo: agent and customer on their own channels"))
        warning = _swapped_roles_warning(transcript, scorer, imported)
        return replace(transcript, role_decision=decision,
                       warnings=transcript.warnings + ([warning] if warning else []))
    if not speakers:
        return transcript
    if len(speakers) == 1:
        decision = RoleDecision(speakers[0], "single speaker", 0.5, "only one speaker found; taken as the agent")
    else:
        decision = (_by_voice(transcript.voice_similarity)
                    or _by_phrases(transcript, scorer)
                    or RoleDecision(speakers[0], "first speaker", round(1 / len(speakers), 2),
                                    "no voiceprint match and no agent phrase; first to speak"))
    turns = [replace(t, role=Role.AGENT if t.speaker == decision.agent_speaker else Role.CUSTOMER)
             for t in transcript.turns]
    return replace(transcript, turns=turns, role_decision=decision)
