"""Text processing for phrase checks: spaCy tokenisation, simplemma lemmas, a phrase index.

Phrases match on normalised lemmas (lower case, diacritics removed), so "thanks for holding"
matches "Thank you for holding", and Russian, Lithuanian or Turkish inflected forms match
their dictionary form. Longer words may differ by one or two letters (ASR slips).

Matching scales with the text, not with the number of phrases: every phrase is tokenised
once when it is added to a `PhraseIndex`, all phrases of all lists share one word trie, and a
call's tokens are looked up in it (a dict lookup per token, plus a segment index for the
words that allow letter slips), so 20,000 phrases cost about what 20 do.
"""
from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version

import numpy as np
import simplemma
import spacy
from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES
from spacy.language import Language
from spacy.matcher.levenshtein import levenshtein
from spacy.tokens import Doc

COMPONENT = "simplemma_lemmatizer"


def normalise(text: str) -> str:
    """Lower case without diacritics (é -> e, й -> и, ş -> s) so ASR spelling variants compare equal."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("ı", "i"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@Language.factory(COMPONENT)
def _make_lemmatizer(nlp: Language, name: str):
    lang = nlp.lang
    supported = lang in SUPPORTED_LANGUAGES

    def lemmatize(doc: Doc) -> Doc:
        for token in doc:
            word = token.text.casefold()
            lemma = simplemma.lemmatize(word, lang=lang) if supported and token.is_alpha else word
            token.lemma_ = normalise(lemma)
            token.norm_ = normalise(token.text)
        return doc

    return lemmatize


@lru_cache(maxsize=None)
def pipeline(lang: str) -> Language:
    """spaCy blank pipeline for `lang` with the simplemma lemmatizer (cached per language)."""
    try:
        nlp = spacy.blank(lang)
    except ImportError:
        nlp = spacy.blank("xx")
        nlp.lang = lang  # tokenise generically, lemmatise in the call's language
    nlp.add_pipe(COMPONENT)
    return nlp


ANALYSIS_VERSION = 2
"""Bumped whenever what `analyse` gives for a text changes (tokens, lemmas or norms)."""


@lru_cache(maxsize=None)
def analyser_id() -> str:
    """Names what made a stored analysis: this module's version and the spaCy and simplemma
    releases (a stored analysis made by anything else is made again)."""
    return f"tokens-{ANALYSIS_VERSION}/spacy-{version('spacy')}/simplemma-{version('simplemma')}"


@dataclass(frozen=True, slots=True)
class TurnTokens:
    """What phrase matching reads of one turn's text, computed once when the transcript is
    stored: per token its character span in the text, normalised lemma and surface form, and
    whether it is punctuation or space (free to skip between the words of a phrase)."""

    starts: Sequence[int]
    ends: Sequence[int]
    lemmas: Sequence[str]
    norms: Sequence[str]
    free: Sequence[bool]
    times: Sequence[tuple[float, float] | None] | None = None
    """Per token, the start of the first and the latest end of the words it overlaps (None: it
    overlaps none); None for a turn without word times (`scoring.calltext.timed_tokens`)."""

    @classmethod
    def of(cls, doc: Doc) -> "TurnTokens":
        """The tokens of a Doc made by `pipeline`."""
        return cls([t.idx for t in doc], [t.idx + len(t.text) for t in doc], [t.lemma_ for t in doc],
                   [t.norm_ for t in doc], [t.is_punct or t.is_space for t in doc])

    def dumps(self) -> str:
        """Compact JSON: [starts, ends, lemmas, norms (empty where equal to the lemma), free token
        indices, times]."""
        return json.dumps([list(self.starts), list(self.ends), list(self.lemmas),
                           ["" if n == lemma else n for n, lemma in zip(self.norms, self.lemmas)],
                           [i for i, f in enumerate(self.free) if f],
                           None if self.times is None else [t and list(t) for t in self.times]],
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> "TurnTokens":
        """The tokens `dumps` wrote."""
        return cls._of(json.loads(text))

    @classmethod
    def loads_many(cls, texts: Sequence[str]) -> list["TurnTokens"]:
        """The tokens of many turns (`dumps` of each), parsed as one JSON text."""
        return [cls._of(parts) for parts in json.loads("[" + ",".join(texts) + "]")]

    @classmethod
    def _of(cls, parts: list) -> "TurnTokens":
        starts, ends, lemmas, norms, free, times = parts
        flags = [False] * len(starts)
        for i in free:
            flags[i] = True
        return cls(starts, ends, lemmas, [n or lemma for n, lemma in zip(norms, lemmas)], flags, times)


def analyse(texts: Iterable[str], lang: str) -> list[TurnTokens]:
    """Each text's tokens (spaCy tokeniser, simplemma lemmas, normalised), in one pipe."""
    return [TurnTokens.of(doc) for doc in pipeline(lang).pipe(texts)]


MAX_EXTRA_WORDS = 2
"""Extra words allowed between two words of a phrase ("thank you *so much* for calling")."""


def allowed_edits(word: str, fuzzy: bool) -> int:
    """Letter edits (Levenshtein) a phrase word tolerates: none for exact lists and short
    words, 1 from five letters, 2 from eight."""
    if not fuzzy or len(word) < 5:
        return 0
    return 2 if len(word) >= 8 else 1


def _words(doc: Doc) -> list[tuple[str, str]]:
    """(lemma, surface norm) of each word; punctuation and spaces are dropped."""
    return [(t.lemma_, t.norm_) for t in doc if not (t.is_punct or t.is_space)]


def deletions(word: str, most: int) -> set[str]:
    """`word` and every string made from it by deleting up to `most` letters."""
    out, frontier = {word}, {word}
    for _ in range(most):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


class FuzzyLexicon:
    """Words that tolerate k letter edits, found from a token without comparing it to each.

    Symmetric deletion (as in SymSpell): a token within k edits of a word shares with it a
    string both reach by deleting at most k letters. Each word's deletion variants are kept
    as sorted 64-bit string hashes (numpy, ~12 bytes a variant), a token's variants are looked
    up with one binary search, and only the few words found are compared by Levenshtein
    distance. The cost of a lookup hardly depends on how many words there are.
    """

    MIN_LENGTH = {1: 5, 2: 8}  # shortest word given 1 or 2 edits (`allowed_edits`)

    def __init__(self) -> None:
        self._words: list[str] = []
        self._known: set[tuple[str, int]] = set()
        self._pending: dict[int, list[int]] = {1: [], 2: []}
        self._hashes = {k: np.empty(0, np.int64) for k in (1, 2)}
        self._ids = {k: np.empty(0, np.int32) for k in (1, 2)}

    def __len__(self) -> int:
        return len(self._words)

    def __getstate__(self) -> dict:
        # str hashes are salted per process: another process rebuilds them from the words
        return {"words": sorted(self._known)}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
        for word, edits in state["words"]:
            self.add(word, edits)
        self.commit()

    def add(self, word: str, edits: int) -> None:
        if edits <= 0 or (word, edits) in self._known:
            return
        self._known.add((word, edits))
        self._pending[edits].append(len(self._words))
        self._words.append(word)

    def commit(self) -> None:
        """Index the words added since the last commit (else the next lookup does)."""
        for edits in (1, 2):
            if self._pending[edits]:
                self._index_pending(edits)

    def _index_pending(self, edits: int) -> None:
        hashes, ids = [self._hashes[edits]], [self._ids[edits]]
        for word_id in self._pending[edits]:
            variants = deletions(self._words[word_id], edits)
            hashes.append(np.fromiter(map(hash, variants), np.int64, len(variants)))
            ids.append(np.full(len(variants), word_id, np.int32))
        all_hashes, all_ids = np.concatenate(hashes), np.concatenate(ids)
        order = np.argsort(all_hashes, kind="stable")
        self._hashes[edits], self._ids[edits] = all_hashes[order], all_ids[order]
        self._pending[edits] = []

    def near(self, token: str) -> list[tuple[str, int]]:
        """(word, edits) of every word within its allowed edits of `token` (the token itself included)."""
        found = []
        for edits in (1, 2):
            if self._pending[edits]:
                self._index_pending(edits)
            hashes = self._hashes[edits]
            if not len(hashes) or len(token) < self.MIN_LENGTH[edits] - edits:
                continue
            variants = deletions(token, edits)
            query = np.fromiter(map(hash, variants), np.int64, len(variants))
            lo, hi = np.searchsorted(hashes, query, "left"), np.searchsorted(hashes, query, "right")
            hit = hi > lo
            if not hit.any():
                continue
            ids = self._ids[edits]
            candidates = set()
            for a, b in zip(lo[hit].tolist(), hi[hit].tolist()):
                candidates.update(ids[a:b].tolist())
            for word_id in candidates:
                word = self._words[word_id]
                if levenshtein(token, word, edits) <= edits:
                    found.append((word, edits))
        return found


class PhraseIndex:
    """Every phrase list of a rubric in one language, matched in a single pass over a text.

    A phrase matches when its words appear in order, each equal to a token's lemma (or, for
    fuzzy lists, within `allowed_edits` of the token's lemma or of its surface form), with
    any punctuation and up to `max_inserted` other words between two of them. Where matches
    of one list overlap, the longest (then the first) is kept.

    Phrases are tokenised once, when their list is added; the words of all lists form one
    trie keyed by (lemma|norm, word, edits), so a text is matched by walking the trie from
    each token rather than trying every phrase.
    """

    _TOKEN_CACHE_LIMIT = 200_000

    def __init__(self, lang: str, max_inserted: int = MAX_EXTRA_WORDS):
        self.lang = lang
        self.max_inserted = max_inserted
        self.version = 0  # bumped on every add, so cached results can tell they are stale
        self._labels: dict[str, int] = {}
        self._label_names: list[str] = []
        self._keys: dict[tuple[str, str, int], int] = {}
        self._edges: dict[tuple[int, int], int] = {}  # (node, key) -> node; node 0 is the root
        self._inner: set[int] = set()  # nodes with children
        self._ends: dict[int, set[int]] = {}  # node -> labels of the phrases ending there
        self._nodes = 1
        self._fuzzy = FuzzyLexicon()
        self._token_keys: dict[tuple[str, str], tuple[int, ...]] = {}
        self._phrase_words: dict[str, list[tuple[str, str]]] = {}

    def add(self, label: str, phrases: Iterable[str], fuzzy: bool = True) -> "PhraseList":
        """Register a phrase list under `label` (once) and return its handle."""
        if label not in self._labels:
            label_id = self._labels[label] = len(self._label_names)
            self._label_names.append(label)
            for words in self._tokenised(list(phrases)):
                if not words:
                    continue
                self._insert([("lemma", lemma, allowed_edits(lemma, fuzzy)) for lemma, _ in words], label_id)
                if fuzzy:
                    self._insert([("norm", norm, allowed_edits(norm, True)) for _, norm in words], label_id)
            self._fuzzy.commit()
            self._token_keys.clear()
            self.version += 1
        return PhraseList(self, label)

    def _tokenised(self, phrases: list[str]) -> list[list[tuple[str, str]]]:
        """Words of each phrase, each distinct phrase run through spaCy once per index."""
        new = list(dict.fromkeys(p for p in phrases if p not in self._phrase_words))
        for phrase, doc in zip(new, pipeline(self.lang).pipe(new)):
            self._phrase_words[phrase] = _words(doc)
        return [self._phrase_words[p] for p in phrases]

    def _insert(self, pattern: list[tuple[str, str, int]], label_id: int) -> None:
        node = 0
        for key in pattern:
            key_id = self._keys.setdefault(key, len(self._keys))
            self._fuzzy.add(key[1], key[2])
            child = self._edges.get((node, key_id))
            if child is None:
                child = self._edges[(node, key_id)] = self._nodes
                self._nodes += 1
                self._inner.add(node)
            node = child
        self._ends.setdefault(node, set()).add(label_id)

    def _keys_of(self, lemma: str, norm: str) -> tuple[int, ...]:
        """Trie keys a token with this lemma and surface norm satisfies."""
        cached = self._token_keys.get((lemma, norm))
        if cached is not None:
            return cached
        found = set()
        for attr, value in (("lemma", lemma), ("norm", norm)):
            for edits in (0, 1, 2):
                key = self._keys.get((attr, value, edits))
                if key is not None:
                    found.add(key)
            for word, edits in self._fuzzy.near(value):
                key = self._keys.get((attr, word, edits))
                if key is not None:
                    found.add(key)
        if len(self._token_keys) >= self._TOKEN_CACHE_LIMIT:
            self._token_keys.clear()
        keys = self._token_keys[(lemma, norm)] = tuple(found)
        return keys

    def token_spans(self, tokens: TurnTokens | Doc) -> dict[str, list[tuple[int, int]]]:
        """Label -> token spans [start, end) of its matches (longest where they overlap)."""
        if not self._edges:
            return {}
        if isinstance(tokens, Doc):
            tokens = TurnTokens.of(tokens)
        known, keys_of = self._token_keys, self._keys_of
        keys = [known.get(pair) or keys_of(*pair) for pair in zip(tokens.lemmas, tokens.norms)]
        free = tokens.free
        edges, inner, ends, limit, size = self._edges, self._inner, self._ends, self.max_inserted, len(keys)
        found: dict[int, set[tuple[int, int]]] = {}
        for start in range(size):
            if not keys[start]:
                continue
            stack = [(child, start) for child in (edges.get((0, k)) for k in keys[start]) if child is not None]
            seen = set()
            while stack:
                state = stack.pop()
                if state in seen:
                    continue
                seen.add(state)
                node, last = state
                for label_id in ends.get(node, ()):
                    found.setdefault(label_id, set()).add((start, last + 1))
                if node not in inner:
                    continue
                inserted, pos = 0, last + 1
                while pos < size:
                    for key in keys[pos]:
                        child = edges.get((node, key))
                        if child is not None:
                            stack.append((child, pos))
                    if not free[pos]:
                        inserted += 1
                        if inserted > limit:
                            break
                    pos += 1
        return {self._label_names[label_id]: longest_first(spans) for label_id, spans in found.items()}

    def find_all(self, tokens: TurnTokens | Doc) -> dict[str, list[tuple[int, int]]]:
        """Label -> character spans of its matches in the turn's text (longest where they overlap)."""
        if isinstance(tokens, Doc):
            tokens = TurnTokens.of(tokens)
        starts, ends = tokens.starts, tokens.ends
        return {label: [(starts[a], ends[b - 1]) for a, b in spans]
                for label, spans in self.token_spans(tokens).items()}


def longest_first(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Non-overlapping spans, preferring the longest and then the earliest, in text order
    (`spacy.util.filter_spans` on (start, end) pairs)."""
    taken: set[int] = set()
    kept = []
    for start, end in sorted(set(spans), key=lambda s: (s[1] - s[0], -s[0]), reverse=True):
        if start not in taken and end - 1 not in taken:
            kept.append((start, end))
            taken.update(range(start, end))
    return sorted(kept)


class PhraseList:
    """Handle to one labelled phrase list of a `PhraseIndex`."""

    def __init__(self, index: PhraseIndex, label: str):
        self.index, self.label = index, label

    def find(self, tokens: TurnTokens | Doc) -> list[tuple[int, int]]:
        """Character spans of this list's matches in the turn's text."""
        return self.index.find_all(tokens).get(self.label, [])


def phrase_list(phrases: list[str], lang: str, fuzzy: bool = True) -> PhraseList:
    """A stand-alone phrase list (its own index), for one-off searches."""
    return PhraseIndex(lang).add("phrases", phrases, fuzzy)
