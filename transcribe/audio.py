"""Decode recordings with PyAV into 16 kHz float32 channels, in chunks of bounded size.

Stereo files keep both channels (agent and customer); anything else is mixed to mono. Long
recordings are decoded chunk by chunk, so memory stays bounded whatever the file's length.
"""
from __future__ import annotations

import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from transcribe.errors import AudioError

SAMPLE_RATE = 16_000
CHUNK_SECONDS = 600.0
SILENCE_PEAK = 10 ** (-70 / 20)  # -70 dBFS: below this the recording holds no signal


@dataclass
class DecodedAudio:
    """Channels of (part of) a recording, each a float32 array at SAMPLE_RATE, starting at `offset` s."""

    channels: list[np.ndarray]
    source_channels: int
    offset: float = 0.0
    mixdown: np.ndarray | None = None  # stereo: both channels mixed as ffmpeg mixes them to mono

    @property
    def mono(self) -> np.ndarray:
        """The recording as one channel: the mixdown of a stereo chunk, else its only channel."""
        return self.mixdown if self.mixdown is not None else self.channels[0]

    @property
    def duration(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE if self.channels else 0.0


@dataclass
class AudioInfo:
    channels: int
    declared_duration: float | None  # from the container header, when it states one


def _wav_declared_duration(path: Path) -> float | None:
    """Duration a PCM WAV header declares (ffmpeg clamps it to the bytes present, hiding truncation)."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / wav.getframerate() if wav.getframerate() else None
    except (wave.Error, EOFError, OSError):
        return None


def probe(path: Path) -> AudioInfo:
    """Channel count and declared duration of the first audio stream."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: no audio stream in the file (unsupported or not a recording)")
            stream = container.streams.audio[0]
            declared = None
            if stream.duration is not None and stream.time_base is not None:
                declared = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                declared = container.duration / 1_000_000
            declared = _wav_declared_duration(path) or declared
            return AudioInfo(channels=stream.codec_context.channels or 1, declared_duration=declared)
    except av.FFmpegError as exc:
        raise AudioError(f"{path}: unreadable audio ({exc.strerror or exc})") from exc


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")


class AudioStream:
    """Iterate a recording in chunks; after iteration, `decoded_seconds` and `peak` describe it."""

    def __init__(self, path: str | Path, chunk_seconds: float = CHUNK_SECONDS):
        self.path = Path(path)
        _check_file(self.path)
        self.info = probe(self.path)
        self.stereo = self.info.channels == 2
        self.chunk_samples = int(chunk_seconds * SAMPLE_RATE)
        self.decoded_seconds = 0.0
        self.peak = 0.0

    def __iter__(self) -> Iterator[DecodedAudio]:
        width = 2 if self.stereo else 1
        resampler = av.AudioResampler(format="s16", layout="stereo" if self.stereo else "mono", rate=SAMPLE_RATE)
        # Stereo also gets ffmpeg's own mono downmix (mixed before resampling), the very samples
        # faster_whisper.decode_audio would give for the file.
        downmixer = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE) if self.stereo else None
        pending: list[np.ndarray] = []
        pending_mix: list[np.ndarray] = []
        pending_samples, offset = 0, 0.0
        try:
            with av.open(str(self.path), metadata_errors="ignore") as container:
                for frame in self._frames(container):
                    if downmixer is not None:
                        pending_mix += [out.to_ndarray().reshape(-1) for out in downmixer.resample(frame)]
                    for out in resampler.resample(frame):
                        block = out.to_ndarray().reshape(-1)
                        pending.append(block)
                        pending_samples += block.size // width
                        if pending_samples >= self.chunk_samples:
                            chunk = self._chunk(pending, width, offset, pending_mix)
                            offset += chunk.duration
                            pending, pending_samples = [], 0
                            yield chunk
        except av.FFmpegError as exc:
            raise AudioError(f"{self.path}: audio could not be decoded ({exc.strerror or exc})") from exc
        if pending_samples:
            yield self._chunk(pending, width, offset, pending_mix)
        if self.decoded_seconds == 0:
            raise AudioError(f"{self.path}: no audio samples could be decoded (zero-length or truncated stream)")

    @staticmethod
    def _frames(container):
        frames = container.decode(audio=0)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av.InvalidDataError:
                continue
            frame.pts = None
            yield frame
        yield None  # flush the resampler

    def _chunk(self, blocks: list[np.ndarray], width: int, offset: float,
               mix_blocks: list[np.ndarray]) -> DecodedAudio:
        samples = np.concatenate(blocks).astype(np.float32) / 32768.0
        self.peak = max(self.peak, float(np.abs(samples).max(initial=0.0)))
        channels = [samples[0::2], samples[1::2]] if width == 2 else [samples]
        self.decoded_seconds += len(channels[0]) / SAMPLE_RATE
        mixdown = None
        if width == 2:
            # The two resamplers may hold back a few samples differently: cut the mix to this chunk's
            # length and carry the rest over to the next chunk.
            mix = np.concatenate(mix_blocks) if mix_blocks else np.zeros(0, np.int16)
            n = len(channels[0])
            mixdown = np.zeros(n, np.float32)
            mixdown[:min(n, len(mix))] = mix[:n].astype(np.float32) / 32768.0
            mix_blocks[:] = [mix[n:]] if len(mix) > n else []
        return DecodedAudio(channels=channels, source_channels=self.info.channels, offset=offset, mixdown=mixdown)

    def check_complete(self) -> None:
        """AudioError when less was decoded than the header declares, or the file is silent."""
        declared = self.info.declared_duration
        if declared and self.decoded_seconds < 0.95 * declared - 0.5:
            raise AudioError(f"{self.path}: truncated audio: the header declares {declared:.1f} s, "
                             f"only {self.decoded_seconds:.1f} s could be decoded")
        if self.peak < SILENCE_PEAK:
            raise AudioError(f"{self.path}: silence only ({self.decoded_seconds:.1f} s with no signal)")


def load_audio(path: str | Path) -> DecodedAudio:
    """A whole (short) recording in memory."""
    stream = AudioStream(path, chunk_seconds=10 ** 7)
    chunks = list(stream)
    return chunks[0] if len(chunks) == 1 else DecodedAudio(
        channels=[np.concatenate([c.channels[i] for c in chunks]) for i in range(len(chunks[0].channels))],
        source_channels=stream.info.channels)
