"""One call's speakers and words in interchange formats: RTTM, SRT subtitles, JSON.

Each format is one function `(info: CallInfo, transcript: Transcript) -> str` in the
`call_formats` registry: decorated with `@call_format("name")` here, or, from another package,
an entry point in the group `callqa_call_formats`. `qa export CALL --format name` writes it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import catalogue
import srt

from qa.store import CallInfo
from qa_types import SpeakerSpan, Transcript, to_plain

CallFormat = Callable[[CallInfo, Transcript], str]

call_formats = catalogue.create("callqa", "call_formats", entry_points=True)


def call_format(name: str) -> Callable[[CallFormat], CallFormat]:
    """Register a one-call format under `name` (the --format value)."""
    return call_formats.register(name)


class _FormatNames:
    """The registered one-call format names, read when asked (`in`, iteration), so a format
    registered after import counts too."""

    def __contains__(self, name: object) -> bool:
        return name in call_formats.get_all()

    def __iter__(self) -> Iterator[str]:
        return iter(call_formats.get_all())

    def __len__(self) -> int:
        return len(call_formats.get_all())

    def __repr__(self) -> str:
        return repr(tuple(self))


CALL_FORMATS = _FormatNames()


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


@call_format("rttm")
def _rttm(info: CallInfo, transcript: Transcript) -> str:
    return to_rttm(info.call_id, transcript)


def to_srt(transcript: Transcript) -> str:
    """Subtitles, one per turn, each prefixed with its role and speaker."""
    subtitles = [
        srt.Subtitle(i, timedelta(seconds=t.start), timedelta(seconds=max(t.end, t.start + 0.001)),
                     f"[{t.role.value} {t.speaker}] {t.text}")
        for i, t in enumerate(transcript.turns, start=1)
    ]
    return srt.compose(subtitles, reindex=False)


@call_format("srt")
def _srt(info: CallInfo, transcript: Transcript) -> str:
    return to_srt(transcript)


@call_format("json")
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
    """The call in a registered format; ValueError naming the formats for an unknown one."""
    formats = call_formats.get_all()
    if fmt not in formats:
        raise ValueError(f"unknown format '{fmt}' for one call ({', '.join(formats)})")
    return formats[fmt](info, transcript)
