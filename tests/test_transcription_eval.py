"""Transcription on real third-party recordings from ../shared/eval."""
from __future__ import annotations

import re

import jiwer
import pytest

from qa_types import Role
from tests.conftest import eval_file
from transcribe.model import resolve_model

pytestmark = pytest.mark.slow


def _words(text: str) -> str:
    text = text.lower().replace("’", "'")
    return " ".join(re.sub(r"[^\w' ]+", " ", text).split())


def _stm_text(path) -> str:
    lines = [ln.split(maxsplit=5) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return " ".join(parts[5] for parts in lines if len(parts) == 6)


@pytest.mark.parametrize("agent_channel", [0, 1])
def test_stereo_channels_are_transcribed_separately(transcriber, agent_channel):
    wav = eval_file("faster_whisper_tests/stereo_diarization.wav")
    t = transcriber.transcribe(wav, language="en", agent_channel=agent_channel)
    by_channel = {
        0: " ".join(turn.text for turn in t.turns if turn.role == (Role.AGENT if agent_channel == 0 else Role.CUSTOMER)),
        1: " ".join(turn.text for turn in t.turns if turn.role == (Role.CUSTOMER if agent_channel == 0 else Role.AGENT)),
    }
    assert t.channels == 2
    # Left channel: "He began a confused complaint against the wizard ..."; right: "The horizon seems extremely distant."
    assert "wizard" in by_channel[0] and "curtain" in by_channel[0] and "horizon" not in by_channel[0]
    assert "horizon" in by_channel[1] and "distant" in by_channel[1] and "wizard" not in by_channel[1]


def test_pipeline_loses_no_words_on_mono_phone_call(transcriber):
    """WER of our pipeline within 1.05x of plain faster-whisper with the same model and settings."""
    from faster_whisper import WhisperModel

    wav = eval_file("callytics_csvd/call/Call01.wav")
    reference = _words(_stm_text(eval_file("callytics_csvd/call/Call01.stm")))

    ours = transcriber.transcribe(wav, language="en")
    ours_text = _words(" ".join(turn.text for turn in ours.turns))

    plain_model = WhisperModel(resolve_model(None), device="cpu", compute_type="int8")
    segments, _ = plain_model.transcribe(str(wav), language="en", beam_size=5, word_timestamps=True, vad_filter=True)
    plain_text = _words(" ".join(s.text for s in segments))

    wer_ours, wer_plain = jiwer.wer(reference, ours_text), jiwer.wer(reference, plain_text)
    print(f"\nCall01 WER: pipeline {wer_ours:.4f}, plain faster-whisper {wer_plain:.4f}")
    assert wer_plain < 0.5  # the model itself works on this call
    assert wer_ours <= 1.05 * wer_plain + 1e-9
    assert ours.speakers == ["S1", "S2"] and ours.speaker_spans  # mono: diarized into two speakers
