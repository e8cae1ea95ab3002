"""Decode a recording into 16 kHz float32 channels with PyAV (via faster-whisper)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from faster_whisper import decode_audio

from transcribe.errors import AudioError

SAMPLE_RATE = 16_000


@dataclass
class DecodedAudio:
    """The channels of one recording, each a float32 array at SAMPLE_RATE."""

    channels: list[np.ndarray]
    source_channels: int

    @property
    def duration(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE if self.channels else 0.0


def probe_channels(path: Path) -> int:
    """Number of channels in the first audio stream; AudioError when there is none."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: no audio stream in the file")
            return container.streams.audio[0].codec_context.channels or 1
    except av.FFmpegError as exc:
        raise AudioError(f"{path}: unreadable audio ({exc.strerror or exc})") from exc


def load_audio(path: str | Path) -> DecodedAudio:
    """Decode `path`: stereo files keep both channels, anything else is mixed to mono."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    n_channels = probe_channels(path)
    try:
        if n_channels == 2:
            left, right = decode_audio(str(path), sampling_rate=SAMPLE_RATE, split_stereo=True)
            channels = [left, right]
        else:
            channels = [decode_audio(str(path), sampling_rate=SAMPLE_RATE)]
    except (av.FFmpegError, ValueError, RuntimeError) as exc:
        raise AudioError(f"{path}: audio could not be decoded ({exc})") from exc
    if channels[0].size == 0:
        raise AudioError(f"{path}: no audio samples could be decoded (truncated or empty stream)")
    return DecodedAudio(channels=channels, source_channels=n_channels)
