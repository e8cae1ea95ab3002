"""Word attribution from diarization and the agent decision, on constructed data (no models)."""
from __future__ import annotations

from qa_types import Role, SpeakerSpan, Transcript, Word
from scoring import RubricScorer
from scoring.roles import decide_roles
from transcribe.speakers import attribute_words, sentences
from transcribe.turns import words_to_turns


def _words(spec: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    out, t = [], start
    for token in spec.split():
        out.append(Word(text=" " + token, start=round(t, 2), end=round(t + step - 0.05, 2)))
        t += step
    return out


def test_sentence_votes_fix_a_word_on_the_wrong_side_of_a_boundary():
    words = _words("Could you verify the settings?") + _words("Of course, my username is user101.", start=2.0)
    # diarization switches speaker 0.3 s late: "Of" falls inside S1's segment
    segments = [SpeakerSpan(0.0, 2.3, "S1"), SpeakerSpan(2.3, 5.0, "S2")]
    attributed = attribute_words(words, segments)
    assert [w.speaker for w in attributed[:5]] == ["S1"] * 5
    assert [w.speaker for w in attributed[5:]] == ["S2"] * 6


def test_words_outside_every_segment_take_the_nearest_speaker():
    words = _words("hello there.", start=10.0)
    attributed = attribute_words(words, [SpeakerSpan(0.0, 2.0, "S1"), SpeakerSpan(11.2, 14.0, "S2")])
    assert {w.speaker for w in attributed} == {"S2"}


def test_long_pause_starts_a_new_sentence():
    words = _words("yes") + _words("right", start=5.0)
    assert len(sentences(words)) == 2


def _mono(*turns: tuple[str, float, str]) -> Transcript:
    words = []
    for speaker, start, text in turns:
        words += [Word(w.text, w.start, w.end, 1.0, speaker) for w in _words(text, start)]
    return Transcript(turns=words_to_turns(words, {}), language="en", duration=60.0)


def test_agent_found_by_the_rubric_phrases_even_when_not_first(inbound_rubric):
    transcript = _mono(("S1", 0.0, "Hello?"),
                       ("S2", 2.0, "Thank you for calling Acme, my name is Dana. How can I help?"),
                       ("S1", 8.0, "My card does not work."),
                       ("S2", 12.0, "I'm sorry to hear that. Is there anything else? Have a nice day."))
    decided = decide_roles(transcript, RubricScorer(inbound_rubric))
    assert decided.role_decision.agent_speaker == "S2" and decided.role_decision.method == "phrases"
    assert decided.role_decision.confidence > 0.7
    assert {t.role for t in decided.turns if t.speaker == "S2"} == {Role.AGENT}
    assert {t.role for t in decided.turns if t.speaker == "S1"} == {Role.CUSTOMER}


def test_voiceprint_wins_over_phrases(inbound_rubric):
    transcript = _mono(("S1", 0.0, "Thank you for calling, how can I help?"), ("S2", 4.0, "Hi, I need help."))
    transcript.voice_similarity = {"S1": 0.2, "S2": 0.74}
    decided = decide_roles(transcript, RubricScorer(inbound_rubric))
    assert (decided.role_decision.agent_speaker, decided.role_decision.method) == ("S2", "voiceprint")


def test_weak_voiceprint_match_falls_back_to_phrases(inbound_rubric):
    transcript = _mono(("S1", 0.0, "Thank you for calling, how can I help?"), ("S2", 4.0, "Hi, I need help."))
    transcript.voice_similarity = {"S1": 0.31, "S2": 0.35}
    decided = decide_roles(transcript, RubricScorer(inbound_rubric))
    assert (decided.role_decision.agent_speaker, decided.role_decision.method) == ("S1", "phrases")


def test_no_evidence_means_first_speaker_with_low_confidence(inbound_rubric):
    transcript = _mono(("S1", 0.0, "Okay."), ("S2", 3.0, "Fine."), ("S3", 6.0, "Sure."))
    decision = decide_roles(transcript, RubricScorer(inbound_rubric)).role_decision
    assert decision.agent_speaker == "S1" and decision.method == "first speaker" and decision.confidence < 0.5
