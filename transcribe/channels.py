"""Which channel of a stereo recording each word came from.

A stereo call is transcribed once, on the mixdown of its two channels, so Whisper hears the
whole conversation with its context (decoding each channel alone loses short turns and the
words around them). Each word is then given to the channel that carries its energy.

Levels are compared above each channel's own noise floor, so a quiet line or a noisy one does
not pull words its way, and the other party's echo (channel bleed: the same speech, fainter,
on the wrong channel) loses to the original: every word is kept once, on the louder side.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from qa_types import Word

FRAME_S = 0.02
NOISE_PERCENTILE = 5  # the quietest frames (pauses between words, at least) tell a channel's noise floor
FLOOR_DB = -80.0  # digital silence counts as this level, so a silent channel is not infinitely quiet
CLEAR_MARGIN_DB = 3.0  # below this lead a word's channel is unclear and follows its neighbours
NEIGHBOUR_GAP_S = 1.0  # an unclear word follows a clear one at most this far away
BOTH_TALKING_DB = 10.0  # both channels this far above their floors: both parties are talking
OVERLAP_MAX_GAP_DB = 25.0  # further apart than this, the fainter channel is the other party's echo
SMOOTH_S = 0.3  # talking is judged on levels averaged over this long (syllables come and go)


class ChannelLevels:
    """Frame levels (dB above each channel's noise floor) of the channels of one stretch of audio."""

    def __init__(self, channels: Sequence[np.ndarray], sample_rate: int, offset: float = 0.0):
        self.frame = max(1, int(FRAME_S * sample_rate))
        self.offset = offset
        frames = min(len(c) for c in channels) // self.frame
        rows, levels = [], []
        for samples in channels:
            power = np.square(samples[: frames * self.frame].astype(np.float64)).reshape(frames, self.frame).mean(1)
            level = np.maximum(10 * np.log10(power + 1e-12), FLOOR_DB)
            signal = level[level > FLOOR_DB]  # digital silence (muted line, padding) is no noise floor
            floor = float(np.percentile(signal, NOISE_PERCENTILE)) if len(signal) else FLOOR_DB
            rows.append(level - floor)
            levels.append(level)
        self.above_floor = np.vstack(rows) if rows else np.zeros((0, 0))
        self.level = np.vstack(levels) if levels else np.zeros((0, 0))  # dBFS per frame

    def energy_db(self, start: float, end: float) -> np.ndarray | None:
        """Each channel's absolute energy (dBFS) between `start` and `end`; None for an empty span."""
        first, last = self._frames(start, end)
        if last <= first:
            return None
        return 10 * np.log10(np.power(10.0, self.level[:, first:last] / 10).mean(1))

    def loudness_gap(self, start: float, end: float) -> float:
        """dB between the loudest and the faintest channel in the span (bleed is far apart)."""
        db = self.energy_db(start, end)
        return 0.0 if db is None else float(db.max() - db.min())

    def _frames(self, start: float, end: float) -> tuple[int, int]:
        first = int((start - self.offset) / FRAME_S)
        last = max(first + 1, int(np.ceil((end - self.offset) / FRAME_S)))
        return max(0, first), min(self.above_floor.shape[1], last)

    def span(self, start: float, end: float) -> np.ndarray:
        """Mean level above floor of each channel between `start` and `end` (seconds of the call)."""
        first, last = self._frames(start, end)
        if last <= first:
            return np.zeros(self.above_floor.shape[0])
        # Energy mean, not dB mean: a word is where its loud frames are.
        return 10 * np.log10(np.power(10.0, self.above_floor[:, first:last] / 10).mean(1))


def attribute_words(words: Sequence[Word], levels: ChannelLevels, speakers: Sequence[str]) -> list[Word]:
    """`words` (times in the call) with `speaker` set to `speakers[c]` for the loudest channel c.

    A word whose lead is under CLEAR_MARGIN_DB takes the speaker of the nearest clearly
    attributed word within NEIGHBOUR_GAP_S (short words and word-timing slop), else its own
    loudest channel.
    """
    spans = [levels.span(w.start, w.end) for w in words]
    loudest = [int(np.argmax(s)) for s in spans]
    clear = [len(s) > 1 and float(np.sort(s)[-1] - np.sort(s)[-2]) >= CLEAR_MARGIN_DB for s in spans]
    chosen = list(loudest)
    previous_clear: list[int | None] = []
    last = None
    for i, ok in enumerate(clear):
        last = i if ok else last
        previous_clear.append(last)
    following = None
    for i in range(len(words) - 1, -1, -1):
        following = i if clear[i] else following
        if clear[i]:
            continue
        near = [j for j in (previous_clear[i], following) if j is not None]
        if near:
            nearest = min(near, key=lambda j: _gap(words[i], words[j]))
            if _gap(words[i], words[nearest]) <= NEIGHBOUR_GAP_S:
                chosen[i] = loudest[nearest]
    return [replace(w, speaker=speakers[c]) for w, c in zip(words, chosen)]


def both_talking(levels: ChannelLevels, min_seconds: float = 1.0, merge_gap_s: float = 0.5) -> list[tuple[float, float]]:
    """Stretches (seconds of the call) where every channel carries speech at once.

    A channel counts as talking where its level, averaged over SMOOTH_S, is BOTH_TALKING_DB
    above its floor; stretches closer than `merge_gap_s` are joined.
    """
    width = max(1, int(SMOOTH_S / FRAME_S))
    kernel = np.ones(width) / width
    power = np.power(10.0, levels.above_floor / 10)
    smoothed = np.vstack([np.convolve(row, kernel, mode="same") for row in power]) if len(power) else power
    active = (10 * np.log10(np.maximum(smoothed, 1e-12)) >= BOTH_TALKING_DB).all(0)
    spans: list[list[float]] = []
    start = None
    for i, on in enumerate(np.append(active, False)):
        if on and start is None:
            start = i
        elif not on and start is not None:
            begin, end = levels.offset + start * FRAME_S, levels.offset + i * FRAME_S
            if spans and begin - spans[-1][1] <= merge_gap_s:
                spans[-1][1] = end
            else:
                spans.append([begin, end])
            start = None
    return [(round(a, 2), round(b, 2)) for a, b in spans
            if b - a >= min_seconds and levels.loudness_gap(a, b) <= OVERLAP_MAX_GAP_DB]


def _gap(a: Word, b: Word) -> float:
    return max(0.0, max(a.start, b.start) - min(a.end, b.end))


PAD_S = 0.5  # context decoded on each side of a both-talking stretch
CLIP_GAP_S = 0.5  # silence between gathered clips


def gather_clips(channels: Sequence[np.ndarray], wanted: Sequence[tuple[int, tuple[float, float]]],
                 sample_rate: int) -> tuple[np.ndarray, list[tuple[float, float, float, int]]]:
    """Audio of the `wanted` (channel, stretch) pairs, padded and joined with short silences so one
    decoding pass covers them all; with (start in the joined audio, start in the call, seconds,
    channel) for each clip, to map word times back."""
    pieces, places, at = [], [], 0.0
    gap = np.zeros(int(CLIP_GAP_S * sample_rate), dtype=np.float32)
    for channel, (start, end) in wanted:
        samples = channels[channel]
        first = max(0, int((start - PAD_S) * sample_rate))
        last = min(len(samples), int((end + PAD_S) * sample_rate))
        if last <= first:
            continue
        pieces += [samples[first:last], gap]
        places.append((at, first / sample_rate, (last - first) / sample_rate, channel))
        at += (last - first + len(gap)) / sample_rate
    return (np.concatenate(pieces) if pieces else np.zeros(0, np.float32)), places


def place_words(words: Sequence[Word], places: Sequence[tuple[float, float, float, int]],
                speakers: Sequence[str]) -> list[Word]:
    """Words decoded from `gather_clips` audio, timed in the call and given their clip's channel;
    words in the gaps are dropped."""
    placed = []
    for w in words:
        middle = (w.start + w.end) / 2
        for joined_start, call_start, seconds, channel in places:
            if joined_start <= middle <= joined_start + seconds:
                shift = call_start - joined_start
                placed.append(replace(w, speaker=speakers[channel],
                                      start=round(max(w.start, joined_start) + shift, 3),
                                      end=round(min(w.end, joined_start + seconds) + shift, 3)))
                break
    return placed


def merge_overlaps(mixdown_words: Sequence[Word], channel_words: Sequence[Word], levels: ChannelLevels,
                   stretches: Sequence[tuple[float, float]], speakers: Sequence[str]) -> list[Word]:
    """Mixdown words, where both parties talk at once replaced by each channel's own decoding
    when that found more words (the mixdown tends to keep the louder voice and drop the other).

    A channel's word much fainter there than the other channel is the other party's echo
    (bleed), not speech of its own, and is left out.
    """
    def own_voice(w: Word) -> bool:
        db = levels.energy_db(w.start, w.end)
        return db is not None and db[speakers.index(w.speaker)] >= db.max() - OVERLAP_MAX_GAP_DB

    result = list(mixdown_words)
    for stretch in stretches:
        decoded = [w for w in channel_words if _inside(w, stretch) and own_voice(w)]
        if len(decoded) > sum(1 for w in result if _inside(w, stretch)):
            result = [w for w in result if not _inside(w, stretch)] + decoded
    return sorted(result, key=lambda w: (w.start, w.end))


def _inside(w: Word, stretch: tuple[float, float]) -> bool:
    """The word overlaps the stretch."""
    return w.start < stretch[1] and w.end > stretch[0]
