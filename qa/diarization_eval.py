"""Diarization error rate of the pipeline on a recording with a reference RTTM (pyannote.metrics)."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from transcribe.diarizer import Diarization, DiarizationOptions, Diarizer


class EvaluationError(Exception):
    """The reference or the audio cannot be used; the message names the file."""


@dataclass
class DiarizationScore:
    """DER and its parts, each as a share of the reference speech."""

    der: float
    missed: float
    false_alarm: float
    confusion: float
    reference_speakers: int
    found_speakers: int
    reference_speech_s: float
    seconds: float  # time the diarization took


def load_reference(path: Path):
    """The one annotation of an RTTM file (pyannote.core Annotation)."""
    from pyannote.database.util import load_rttm

    try:
        annotations = load_rttm(str(path))
    except Exception as exc:  # pandas raises several kinds for malformed files
        raise EvaluationError(f"{path}: not a readable RTTM file ({exc})") from None
    if len(annotations) != 1:
        raise EvaluationError(f"{path}: expected one recording in the RTTM, found {len(annotations)}")
    return next(iter(annotations.values()))


def hypothesis(diarization: Diarization):
    from pyannote.core import Annotation, Segment

    annotation = Annotation()
    for span in diarization.segments:
        annotation[Segment(span.start, span.end)] = span.speaker
    return annotation


def score(reference, diarization: Diarization, collar: float, skip_overlap: bool, seconds: float) -> DiarizationScore:
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # evaluated extent = union of reference and hypothesis
        parts = metric(reference, hypothesis(diarization), detailed=True)
    total = parts["total"] or 1.0
    return DiarizationScore(
        der=parts["diarization error rate"], missed=parts["missed detection"] / total,
        false_alarm=parts["false alarm"] / total, confusion=parts["confusion"] / total,
        reference_speakers=len(reference.labels()), found_speakers=len(diarization.speakers),
        reference_speech_s=parts["total"], seconds=seconds,
    )


def evaluate(reference_path: Path, audio_path: Path, options: DiarizationOptions | None = None,
             collar: float = 0.0, skip_overlap: bool = False, diarizer: Diarizer | None = None) -> DiarizationScore:
    """Diarize `audio_path` (speaker count found automatically within the bounds) and score it."""
    from transcribe.audio import load_audio
    from transcribe.errors import AudioError

    reference = load_reference(reference_path)
    try:
        audio = load_audio(audio_path)
    except AudioError as exc:
        raise EvaluationError(str(exc)) from None
    samples = audio.channels[0] if len(audio.channels) == 1 else sum(audio.channels) / len(audio.channels)
    diarizer = diarizer or Diarizer(options)
    started = time.perf_counter()
    result = diarizer(samples, uri=audio_path.stem)
    return score(reference, result, collar, skip_overlap, time.perf_counter() - started)
