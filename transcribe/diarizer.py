"""Who spoke when in a mono recording, with pyannote.audio's `SpeakerDiarization`.

By default everything is local: segmentation-3.0 and CAM++ weights from disk
(`diarization_models`) with agglomerative clustering. Any pyannote pipeline a user can
load (a hub name such as ``pyannote/speaker-diarization-community-1`` with a token, or a
local pipeline folder) is selected with `DiarizationOptions.pipeline` instead.
"""
from __future__ import annotations

import os

# pyannote.audio 4 sends usage telemetry unless told otherwise; call audio is confidential.
os.environ["PYANNOTE_METRICS_ENABLED"] = "false"

import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402

from qa_types import SpeakerSpan  # noqa: E402

OFFLINE = "offline"
SAMPLE_RATE = 16_000


@dataclass
class DiarizationOptions:
    """Settings for speaker diarization of mono calls.

    pipeline: "offline" (local weights, the default), a pyannote hub pipeline name
        ("pyannote/speaker-diarization-community-1") or a local pipeline folder.
    token: hub access token for gated pipelines (else $HF_TOKEN).
    min_speakers / max_speakers: bounds on the number of speakers found.
    threshold: clustering distance threshold of the offline pipeline (cosine, 0..2).
    min_cluster_size: smallest cluster of the offline pipeline, in chunk embeddings.
    segmentation_step: step of the 10 s segmentation window, as a share of it (0.1 = 1 s).
    min_duration_off: pauses shorter than this (seconds) inside one speaker's speech are
        bridged, so a turn is not cut at every breath.
    device: "cpu", "cuda" or "auto".
    """

    pipeline: str = OFFLINE
    token: str | None = None
    min_speakers: int = 1
    max_speakers: int = 4
    threshold: float = 0.7
    min_cluster_size: int = 12
    min_duration_off: float = 0.4
    segmentation_step: float = 0.1
    device: str = "cpu"

    def __post_init__(self):
        if not 1 <= self.min_speakers <= self.max_speakers:
            raise ValueError("speaker bounds need 1 <= min_speakers <= max_speakers")


@dataclass
class Diarization:
    """Speaker spans (overlaps allowed), the exclusive version (one speaker at a time)
    and, when the pipeline gives them, one embedding per speaker."""

    segments: list[SpeakerSpan]
    exclusive: list[SpeakerSpan]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        return sorted({s.speaker for s in self.segments}, key=_speaker_order)


def _speaker_order(label: str) -> tuple[int, str]:
    digits = "".join(ch for ch in label if ch.isdigit())
    return (int(digits) if digits else 0, label)


def _unused_plda():
    """`SpeakerDiarization` loads a PLDA even when it clusters without one (agglomerative);
    this stands in for the hub download and fails loudly if anything ever uses it."""
    from pyannote.audio.core.plda import PLDA

    class NoPLDA(PLDA):
        def __init__(self):  # noqa: D107 - nothing to load
            pass

        def __call__(self, embeddings):
            raise RuntimeError("PLDA is not available offline; use agglomerative clustering")

    return NoPLDA()


def _device(requested: str):
    import torch

    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def build_pipeline(options: DiarizationOptions):
    """A ready pyannote pipeline for `options` (offline wiring or any loadable pipeline)."""
    from pyannote.audio import Model, Pipeline
    from pyannote.audio.pipelines import SpeakerDiarization

    if options.pipeline == OFFLINE:
        from transcribe.diarization_models import SEGMENTATION_FILE, model_file, pyannote_embedding_model

        segmentation = Model.from_pretrained(str(model_file(SEGMENTATION_FILE)))
        pipeline = SpeakerDiarization(
            segmentation=segmentation,
            embedding=pyannote_embedding_model(),
            plda=_unused_plda(),
            clustering="AgglomerativeClustering",
            segmentation_step=options.segmentation_step,
            segmentation_batch_size=32,
            embedding_batch_size=32,
        )
        pipeline.instantiate({
            "segmentation": {"min_duration_off": options.min_duration_off},
            "clustering": {
                "method": "centroid",
                "min_cluster_size": options.min_cluster_size,
                "threshold": options.threshold,
            },
        })
    else:
        from transcribe.errors import ModelError

        token = options.token or os.environ.get("HF_TOKEN")
        try:
            pipeline = Pipeline.from_pretrained(options.pipeline, token=token)
        except Exception as exc:  # hub and file errors come in many kinds
            raise ModelError(f"diarization pipeline {options.pipeline!r} cannot be loaded: {exc}") from exc
        if pipeline is None:
            raise ModelError(f"diarization pipeline {options.pipeline!r} cannot be loaded")
    pipeline.to(_device(options.device))
    return pipeline


def _segments(annotation, names: dict[str, str]) -> list[SpeakerSpan]:
    return [
        SpeakerSpan(round(turn.start, 3), round(turn.end, 3), names[str(label)])
        for turn, _, label in annotation.itertracks(yield_label=True)
    ]


def _exclusive_from(annotation) -> "object":
    """One speaker at a time, for pipelines that return only the overlapping annotation."""
    from pyannote.core import Annotation

    exclusive = Annotation(uri=annotation.uri)
    timeline = annotation.get_timeline().segmentation()
    for piece in timeline:
        labels = annotation.crop(piece, mode="intersection").labels()
        if labels:
            longest = max(labels, key=lambda lab: annotation.label_duration(lab))
            exclusive[piece] = longest
    return exclusive.support()


class Diarizer:
    """Loads a diarization pipeline once and finds the speakers of mono recordings."""

    def __init__(self, options: DiarizationOptions | None = None):
        self.options = options or DiarizationOptions()
        self.pipeline = build_pipeline(self.options)

    def __call__(self, audio: np.ndarray, uri: str = "call") -> Diarization:
        """Diarize 16 kHz mono samples; speakers are named S1, S2, ... in order of first speech."""
        import torch

        waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyannote warns about speaker bounds on short files
            output = self.pipeline(
                {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": uri},
                min_speakers=self.options.min_speakers,
                max_speakers=self.options.max_speakers,
            )
        regular = getattr(output, "speaker_diarization", output)
        exclusive = getattr(output, "exclusive_speaker_diarization", None) or _exclusive_from(regular)
        first_start: dict[str, float] = {}
        for turn, _, label in regular.itertracks(yield_label=True):
            first_start.setdefault(str(label), turn.start)
        order = sorted(first_start, key=first_start.get)
        names = {label: f"S{i}" for i, label in enumerate(order, start=1)}
        embeddings = {}
        centroids = getattr(output, "speaker_embeddings", None)
        if centroids is not None:
            for label, vector in zip(regular.labels(), centroids):
                if str(label) in names and np.any(vector):
                    embeddings[names[str(label)]] = np.asarray(vector, dtype=np.float32)
        return Diarization(_segments(regular, names), _segments(exclusive, names), embeddings)


_process_diarizer: Diarizer | None = None


def _start_process_diarizer(options: DiarizationOptions, parent_pid: int | None = None) -> None:
    global _process_diarizer
    from transcribe.lifecycle import start_helper_process

    if parent_pid is not None:
        start_helper_process(parent_pid)  # telemetry off; exits when the process that started it dies
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    _process_diarizer = Diarizer(options)


def _diarize_in_process(audio: np.ndarray, uri: str) -> Diarization:
    return _process_diarizer(audio, uri)


def _shut_down(pool) -> None:
    pool.shutdown(wait=True, cancel_futures=True)


class DiarizerProcess:
    """A `Diarizer` living in its own process.

    PyTorch runs about twice as slow in a process where CTranslate2 (Whisper) has already
    computed (their two OpenMP runtimes contend), so diarization gets a process of its own.
    Falls back to an in-process `Diarizer` where a child process cannot be started.

    The child is shut down by `close()`, when this object is dropped, and when the process that
    owns it exits, whether by the interpreter's exit or as a multiprocessing worker (which skips
    `atexit` and would otherwise wait for ever on a diarizer child that never ends). A child
    whose owner is killed exits on its own.
    """

    def __init__(self, options: DiarizationOptions | None = None):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import util

        self.options = options or DiarizationOptions()
        self._local: Diarizer | None = None
        self._finalizer = None
        try:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_process_diarizer,
                                             initargs=(self.options, os.getpid()))
            # Runs on close(), on garbage collection, and at exit of this process: multiprocessing
            # runs finalizers with an exit priority before it joins the children of a worker.
            self._finalizer = util.Finalize(self, _shut_down, args=(self._pool,), exitpriority=10)
            self._pool.submit(int).result()  # start it now: model errors surface here
        except (AssertionError, OSError):  # e.g. inside a daemonic process
            self.close()
            self._local = Diarizer(self.options)

    def __call__(self, audio: np.ndarray, uri: str = "call") -> Diarization:
        if self._pool is None:
            return self._local(audio, uri)
        return self._pool.submit(_diarize_in_process, np.asarray(audio, dtype=np.float32), uri).result()

    def close(self) -> None:
        """Shut the child process down (waits for it to exit); safe to call more than once."""
        if self._finalizer is not None:
            self._finalizer()  # runs once
            self._finalizer = None
        self._pool = None
