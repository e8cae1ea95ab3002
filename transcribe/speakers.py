"""From diarization to words: each sentence goes to the speaker whose exclusive speech covers it most.

Word timestamps and speaker boundaries are both a little loose at turn changes, so a
single word ("Of" of "Of course", said by the next speaker) often lands on the wrong side.
Votes are therefore taken per sentence (split at . ? ! and at pauses), weighted by overlap.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from qa_types import SpeakerSpan, Word

SAMPLE_RATE = 16_000
MAX_VOICE_SECONDS = 60.0
SENTENCE_END = (".", "?", "!", "…", "。", ";")
SENTENCE_PAUSE_S = 2.0


def sentences(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped into sentences: a unit ends at final punctuation or a long pause."""
    units: list[list[Word]] = []
    for word in words:
        if not units or units[-1][-1].text.strip().endswith(SENTENCE_END) \
                or word.start - units[-1][-1].end > SENTENCE_PAUSE_S:
            units.append([])
        units[-1].append(word)
    return units


def attribute_words(words: Sequence[Word], exclusive: Sequence[SpeakerSpan]) -> list[Word]:
    """Words with `speaker` set from exclusive (one speaker at a time) speaker spans.

    Each sentence takes the speaker whose segments overlap its words most; a sentence in no
    segment (diarization missed a short stretch) takes the nearest segment's speaker.
    """
    segments = sorted(exclusive, key=lambda s: s.start)
    if not segments:
        return [replace(w, speaker="S1") for w in words]
    starts = [s.start for s in segments]
    attributed = []
    for unit in sentences(sorted(words, key=lambda w: (w.start, w.end))):
        overlap: dict[str, float] = {}
        nearest: dict[str, float] = {}
        for word in unit:
            shares, gaps = _word_overlap(word, segments, starts)
            for speaker, shared in shares.items():
                overlap[speaker] = overlap.get(speaker, 0.0) + shared
            for speaker, gap in gaps.items():
                nearest[speaker] = min(nearest.get(speaker, gap), gap)
        speaker = max(overlap, key=overlap.get) if overlap else min(nearest, key=nearest.get)
        attributed += [replace(w, speaker=speaker) for w in unit]
    return attributed


def _word_overlap(word: Word, segments: Sequence[SpeakerSpan], starts: list[float]) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of `word` inside each speaker's segments (sorted, with their `starts`), and each
    nearby speaker's distance."""
    first = max(0, bisect.bisect_right(starts, word.start) - 1)
    overlap: dict[str, float] = {}
    gaps: dict[str, float] = {}
    for segment in segments[max(0, first - 1):]:
        gap = max(segment.start - word.end, word.start - segment.end, 0.0)
        gaps[segment.speaker] = min(gaps.get(segment.speaker, gap), gap)
        if segment.start > word.end:
            break
        shared = min(word.end, segment.end) - max(word.start, segment.start)
        if shared > 0:
            overlap[segment.speaker] = overlap.get(segment.speaker, 0.0) + shared
    return overlap, gaps


def speaker_audio(audio: np.ndarray, exclusive: Sequence[SpeakerSpan], speaker: str,
                  max_seconds: float = MAX_VOICE_SECONDS) -> np.ndarray:
    """The first `max_seconds` of one speaker's exclusive speech, joined."""
    pieces, total = [], 0
    limit = int(max_seconds * SAMPLE_RATE)
    for segment in sorted(exclusive, key=lambda s: s.start):
        if segment.speaker != speaker:
            continue
        piece = audio[int(segment.start * SAMPLE_RATE):int(segment.end * SAMPLE_RATE)]
        pieces.append(piece[: limit - total])
        total += len(pieces[-1])
        if total >= limit:
            break
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def voice_similarity(audio: np.ndarray, exclusive: Sequence[SpeakerSpan], voiceprint: np.ndarray,
                     embedder) -> dict[str, float]:
    """Cosine similarity of each speaker's voice to an enrolled voiceprint."""
    scores = {}
    for speaker in sorted({s.speaker for s in exclusive}):
        voice = speaker_audio(audio, exclusive, speaker)
        if len(voice) >= SAMPLE_RATE // 2:
            scores[speaker] = round(cosine(embedder.embed(voice), voiceprint), 4)
    return scores
