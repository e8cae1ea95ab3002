"""One call's speakers and words in interchange formats: RTTM, SRT subtitles, JSON."""
from __future__ import annotations

import json
from datetime import timedelta

import srt

from qa.store import CallInfo
from qa_types import SpeakerSpan, Transcript, to_plain

CALL_FORMATS = ("rttm", "srt", "json")


def _rttm_token(text: str) -> str:
    """RTTM fields are whitespace-separated: keep a name in one token."""
    return "_".join(str(text).split()) or "<NA>"


def speaker_spans(transcript: Transcript) -> list[SpeakerSpan]:
    """Diarization segments when the call was diarized, else one span per turn (stereo, imports)."""
    if transcript.speaker_spans:
        return transcript.speaker_spans
    return [SpeakerSpan(t.start, t.end, t.speaker) for t in transcript.turns]


def to_rttm(call_id: str, transcript: Transcript) -> str:
    """NIST RTTM: one SPEAKER line per span (file id, channel 1, onset, duration, speaker)."""
    uri = _rttm_token(call_id)
    lines = [
        f"SPEAKER {uri} 1 {span.start:.3f} {span.end - span.start:.3f} <NA> <NA> {_rttm_token(span.speaker)} <NA> <NA>"
        for span in sorted(speaker_spans(transcript), key=lambda s: (s.start, s.end))
        if span.end > span.start
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def to_srt(transcript: Transcript) -> str:
    """Subtitles, one per turn, each prefixed with its role and speaker."""
    subtitles = [
        srt.Subtitle(i, timedelta(seconds=t.start), timedelta(seconds=max(t.end, t.start + 0.001)),
                     f"[{t.role.value} {t.speaker}] {t.text}")
        for i, t in enumerate(transcript.turns, start=1)
    ]
    return srt.compose(subtitles, reindex=False)


def to_json(info: CallInfo, transcript: Transcript) -> str:
    """The call, its role decision, speaker spans and turns with word timings."""
    document = {
        "call_id": info.call_id,
        "file": info.file,
        "agent": info.agent,
        "language": transcript.language,
        "duration_s": transcript.duration,
        "channels": transcript.channels,
        "speakers": transcript.speakers,
        "role_decision": to_plain(transcript.role_decision),
        "voice_similarity": transcript.voice_similarity,
        "speaker_spans": to_plain(speaker_spans(transcript)),
        "turns": [
            {"speaker": t.speaker, "role": t.role.value, "start": t.start, "end": t.end, "text": t.text,
             "words": [{"text": w.text.strip(), "start": w.start, "end": w.end, "probability": w.probability}
                       for w in t.words]}
            for t in transcript.turns
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def export_call(info: CallInfo, transcript: Transcript, fmt: str) -> str:
    if fmt == "rttm":
        return to_rttm(info.call_id, transcript)
    if fmt == "srt":
        return to_srt(transcript)
    return to_json(info, transcript)
