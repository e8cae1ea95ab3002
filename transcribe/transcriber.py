"""The one entry point from a recording to a `Transcript`.

Stereo recordings (one channel the agent, the other the customer) are transcribed in one pass
over the mixdown, each word given to the channel that carries it (`transcribe.channels`);
where both parties talk at once each channel is decoded there too. Mono recordings are transcribed whole and diarized: words go to speakers
S1, S2, ... (role `unknown` until `scoring.roles` decides who the agent is).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from qa_types import Role, Transcript, Word
from transcribe.audio import CHUNK_SECONDS, SAMPLE_RATE, AudioStream, DecodedAudio
from transcribe.channels import (ChannelLevels, both_talking, gather_clips, merge_overlaps, place_words,
                                 attribute_words as attribute_to_channels)
from transcribe.diarizer import DiarizationOptions, DiarizerProcess
from transcribe.speakers import attribute_words, voice_similarity
from transcribe.errors import AudioError
from transcribe.model import resolve_model
from transcribe.turns import words_to_turns

STEREO_MODES = ("mixdown", "channels")
MONO_WARNING = "mono recording not diarized: all speech is one speaker, taken as the agent"


@dataclass
class TranscriberOptions:
    """Settings for faster-whisper.

    model: faster-whisper model name ("small", "large-v3", ...) or local directory; None or
        "base" is the shipped multilingual base model.
    device: "cpu", "cuda" or "auto".
    compute_type: "default" picks int8 on CPU and float16 on GPU.
    beam_size: beam search width (faster-whisper's default 5).
    vad_filter: skip non-speech with the bundled Silero VAD.
    cpu_threads: CPU threads for CTranslate2; 0 = one per core (CTranslate2's own default of 4
        oversubscribes small machines).
    batch_size: on a GPU, faster-whisper's batched inference with this many segments at once
        (0 = sequential decoding, the CPU default).
    diarization: how mono calls are split by speaker; None leaves them undiarized.
    stereo: how stereo calls are transcribed. "mixdown" (default): one pass over the mixed
        channels, each word given to the channel that carries its energy (the most accurate and
        half the decoding). "channels": each channel decoded on its own.
    """

    model: str | None = None
    device: str = "cpu"
    compute_type: str = "default"
    beam_size: int = 5
    vad_filter: bool = True
    cpu_threads: int = 0
    batch_size: int = 16
    diarization: DiarizationOptions | None = field(default_factory=DiarizationOptions)
    stereo: str = "mixdown"

    def __post_init__(self):
        if self.stereo not in STEREO_MODES:
            raise ValueError(f"stereo must be one of {', '.join(STEREO_MODES)}, not {self.stereo!r}")


def _device(requested: str) -> str:
    if requested != "auto":
        return requested
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class Transcriber:
    """Loads the Whisper model once and turns recordings into transcripts."""

    def __init__(self, options: TranscriberOptions | None = None):
        from faster_whisper import WhisperModel

        from transcribe.offline import switch_off_telemetry

        switch_off_telemetry(load_runtime=True)  # before the Silero VAD (onnxruntime) first loads
        self.options = options or TranscriberOptions()
        device = _device(self.options.device)
        compute_type = self.options.compute_type
        if compute_type == "default":
            compute_type = "float16" if device == "cuda" else "int8"
        self.model_name = self.options.model or "base"
        self.model = WhisperModel(
            resolve_model(self.options.model),
            device=device,
            compute_type=compute_type,
            cpu_threads=self.options.cpu_threads or os.cpu_count() or 0,
        )
        self._batched = None
        if device == "cuda" and self.options.batch_size > 0:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(model=self.model)
        self._diarizer: DiarizerProcess | None = None
        self._embedder = None

    @property
    def diarizer(self) -> DiarizerProcess:
        """The diarization pipeline (in a process of its own), loaded on the first mono call."""
        if self._diarizer is None:
            options = self.options.diarization or DiarizationOptions()
            if options.device == "cpu" and self.options.device != "cpu":
                options = replace(options, device=self.options.device)
            self._diarizer = DiarizerProcess(options)
        return self._diarizer

    def close(self) -> None:
        """Release the diarizer's process (if one was started); the transcriber stays usable and
        starts a new one when a mono call needs it."""
        if self._diarizer is not None:
            self._diarizer.close()
            self._diarizer = None

    @property
    def embedder(self):
        """CAM++ speaker embeddings for voiceprint comparison, loaded when first needed."""
        if self._embedder is None:
            from transcribe.diarization_models import SpeakerEmbedder

            self._embedder = SpeakerEmbedder()
        return self._embedder

    def transcribe_channel(
        self, samples: np.ndarray, language: str | None, speaker: str, vad_filter: bool | None = None
    ) -> tuple[list[Word], str, float]:
        """Words of one channel, with the language used and its probability."""
        options = dict(language=language, beam_size=self.options.beam_size, word_timestamps=True,
                       vad_filter=self.options.vad_filter if vad_filter is None else vad_filter)
        if self._batched is not None:
            segments, info = self._batched.transcribe(samples, batch_size=self.options.batch_size, **options)
        else:
            segments, info = self.model.transcribe(samples, **options)
        words = [
            Word(text=w.word, start=round(w.start, 3), end=round(w.end, 3),
                 probability=round(w.probability, 4), speaker=speaker)
            for segment in segments
            for w in (segment.words or [])
        ]
        return words, info.language, info.language_probability

    def transcribe(
        self,
        path: str | Path,
        *,
        language: str | None = None,
        agent_channel: int = 0,
        chunk_seconds: float = CHUNK_SECONDS,
        voiceprint: np.ndarray | None = None,
    ) -> Transcript:
        """Transcribe one recording, decoded and transcribed in chunks (bounded memory).

        language: ISO code from the call's metadata; None detects it on the first chunk (on the
            agent's channel for stereo) and stores its probability.
        agent_channel: which channel of a stereo file is the agent (0 = left, 1 = right).
        voiceprint: the call's agent's enrolled CAM++ embedding; mono calls then store each
            speaker's similarity to it.
        Raises AudioError for unreadable, truncated, silent or speechless recordings.
        """
        if agent_channel not in (0, 1):
            raise ValueError(f"agent_channel must be 0 or 1, not {agent_channel}")
        stream = AudioStream(path, chunk_seconds)
        speakers = {agent_channel: "agent", 1 - agent_channel: "customer"} if stream.stereo else {0: "S0"}
        order = sorted(speakers, key=lambda ch: speakers[ch] != "agent")  # agent first: its language leads
        words: list[Word] = []
        mono_audio: list[np.ndarray] = []
        detected_probability = None
        diarize = not stream.stereo and self.options.diarization is not None
        for chunk in stream:
            if diarize:
                mono_audio.append(chunk.channels[0])
            for found, lang, prob in self._transcribe_chunk(chunk, language, speakers, order):
                if language is None:
                    language, detected_probability = lang, prob
                words += [replace(w, start=round(w.start + chunk.offset, 3), end=round(w.end + chunk.offset, 3))
                          for w in found]
        stream.check_complete()
        if not words:
            raise AudioError(f"{path}: no speech recognised in {stream.decoded_seconds:.1f} s of audio")
        roles = {"agent": Role.AGENT, "customer": Role.CUSTOMER}
        transcript = Transcript(
            turns=words_to_turns(words, roles),
            language=language,
            language_probability=detected_probability,
            duration=round(stream.decoded_seconds, 3),
            channels=stream.info.channels,
            model=self.model_name,
            warnings=[] if stream.stereo or diarize else [MONO_WARNING],
        )
        if diarize:
            transcript = self.diarize(transcript, np.concatenate(mono_audio), str(path), voiceprint)
        return transcript

    def _transcribe_chunk(self, chunk: DecodedAudio, language: str | None, speakers: dict[int, str],
                          order: list[int]):
        """(words, language, probability) per decoding pass over one chunk; times within the chunk."""
        if len(chunk.channels) == 2 and self.options.stereo == "mixdown":
            names = [speakers[0], speakers[1]]
            found, lang, prob = self.transcribe_channel(chunk.mono, language, "")
            levels = ChannelLevels(chunk.channels, SAMPLE_RATE)
            words = attribute_to_channels(found, levels, names)
            overlaps = both_talking(levels)
            if overlaps:  # both talk at once: each channel decoded there too (one pass for all clips)
                wanted = [(channel, stretch) for stretch in overlaps for channel in (0, 1)]
                audio, places = gather_clips(chunk.channels, wanted, SAMPLE_RATE)
                decoded, _, _ = self.transcribe_channel(audio, language or lang, "", vad_filter=False)
                words = merge_overlaps(words, place_words(decoded, places, names), levels, overlaps, names)
            yield words, lang, prob
            return
        for channel in order:
            found, lang, prob = self.transcribe_channel(chunk.channels[channel], language, speakers[channel])
            yield found, lang, prob
            language = language or lang  # the agent's channel leads, the other follows its language

    def diarize(self, transcript: Transcript, audio: np.ndarray, uri: str,
                voiceprint: np.ndarray | None = None) -> Transcript:
        """`transcript` of a mono call with its words split among the speakers found."""
        diarization = self.diarizer(audio, uri=Path(uri).stem)
        words = attribute_words([w for t in transcript.turns for w in t.words], diarization.exclusive)
        similarity = {}
        if voiceprint is not None:
            similarity = voice_similarity(audio, diarization.exclusive, voiceprint, self.embedder)
        return replace(
            transcript,
            turns=words_to_turns(words, {}),
            speaker_spans=list(diarization.segments),
            voice_similarity=similarity,
        )
