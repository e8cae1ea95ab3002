"""Stereo word attribution by channel energy, channel bleed and both-talking stretches (no models)."""
from __future__ import annotations

import numpy as np

from qa_types import Word
from transcribe.channels import (ChannelLevels, attribute_words, both_talking, gather_clips, merge_overlaps,
                                 place_words)

RATE = 16_000


def _tone(seconds: float, amplitude: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _call(segments: list[tuple[int, float, float, float]], seconds: float = 10.0, noise: float = 1e-4):
    """Two channels of low noise with tones: (channel, start, end, amplitude)."""
    rng = np.random.default_rng(0)
    channels = [(noise * rng.standard_normal(int(seconds * RATE))).astype(np.float32) for _ in range(2)]
    for channel, start, end, amplitude in segments:
        channels[channel][int(start * RATE):int(end * RATE)] += _tone(end - start, amplitude)
    return channels


def _word(text: str, start: float, end: float) -> Word:
    return Word(text=" " + text, start=start, end=end)


def test_words_go_to_the_channel_that_carries_them():
    channels = _call([(0, 1.0, 3.0, 0.3), (1, 4.0, 6.0, 0.3)])
    words = [_word("hello", 1.2, 1.8), _word("there", 2.0, 2.6), _word("hi", 4.2, 4.6), _word("yes", 5.0, 5.5)]
    out = attribute_words(words, ChannelLevels(channels, RATE), ["agent", "customer"])
    assert [w.speaker for w in out] == ["agent", "agent", "customer", "customer"]


def test_a_quiet_line_still_owns_its_words_against_the_other_partys_echo():
    # The customer's line is 20 dB quieter than the agent's, and the agent's voice leaks
    # into it 30 dB down (channel bleed): each word is kept once, on its speaker's side.
    channels = _call([(0, 1.0, 3.0, 0.3), (1, 1.0, 3.0, 0.3 * 10 ** (-30 / 20)), (1, 4.0, 6.0, 0.03)])
    words = [_word("agent", 1.2, 2.8), _word("customer", 4.2, 5.8)]
    out = attribute_words(words, ChannelLevels(channels, RATE), ["agent", "customer"])
    assert [w.speaker for w in out] == ["agent", "customer"]
    assert both_talking(ChannelLevels(channels, RATE)) == []  # bleed is not both parties talking


def test_an_unclear_word_follows_its_clear_neighbour():
    channels = _call([(0, 1.0, 3.0, 0.3)])
    # "uh" is stamped in the pause after the turn, where neither channel carries anything.
    words = [_word("okay", 1.2, 2.8), _word("uh", 3.1, 3.3)]
    out = attribute_words(words, ChannelLevels(channels, RATE), ["agent", "customer"])
    assert [w.speaker for w in out] == ["agent", "agent"]


def test_both_talking_is_found_where_both_channels_carry_speech():
    channels = _call([(0, 1.0, 5.0, 0.3), (1, 3.0, 7.0, 0.1)])
    stretches = both_talking(ChannelLevels(channels, RATE))
    assert len(stretches) == 1
    start, end = stretches[0]
    assert abs(start - 3.0) < 0.3 and abs(end - 5.0) < 0.3


def test_clips_map_word_times_back_to_the_call():
    channels = _call([(0, 1.0, 5.0, 0.3), (1, 3.0, 7.0, 0.1)])
    audio, places = gather_clips(channels, [(0, (3.0, 5.0)), (1, (3.0, 5.0))], RATE)
    assert len(places) == 2 and abs(len(audio) / RATE - (3.0 + 0.5) * 2) < 0.01
    second_clip_start = places[1][0]
    decoded = [_word("left", 0.6, 0.9), _word("right", second_clip_start + 0.6, second_clip_start + 0.9),
               _word("gap", places[0][2] + 0.1, places[0][2] + 0.3)]  # in the silence between clips
    placed = place_words(decoded, places, ["agent", "customer"])
    assert [(w.text.strip(), w.speaker) for w in placed] == [("left", "agent"), ("right", "customer")]
    assert abs(placed[0].start - 3.1) < 0.01 and abs(placed[1].start - 3.1) < 0.01


def test_overlap_keeps_both_voices_and_drops_echo_words():
    channels = _call([(0, 1.0, 5.0, 0.3), (1, 3.0, 5.0, 0.1), (1, 1.0, 3.0, 0.3 * 10 ** (-35 / 20))])
    levels = ChannelLevels(channels, RATE)
    stretches = both_talking(levels)
    mixdown = [_word("one", 3.2, 3.6, ), _word("two", 3.8, 4.2)]
    mixdown = [Word(w.text, w.start, w.end, speaker="agent") for w in mixdown]
    own = [Word(" one", 3.2, 3.6, speaker="agent"), Word(" two", 3.8, 4.2, speaker="agent"),
           Word(" yes", 3.3, 3.7, speaker="customer"), Word(" sure", 4.0, 4.4, speaker="customer"),
           Word(" echo", 1.5, 2.0, speaker="customer")]  # outside the stretch, and bleed anyway
    merged = merge_overlaps(mixdown, own, levels, stretches, ["agent", "customer"])
    assert sorted((w.text.strip(), w.speaker) for w in merged) == [
        ("one", "agent"), ("sure", "customer"), ("two", "agent"), ("yes", "customer")]
