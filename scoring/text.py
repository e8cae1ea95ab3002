"""Text processing for phrase checks: spaCy tokenisation, simplemma lemmas, Matcher patterns.

Phrases match on normalised lemmas (lower case, diacritics removed), so "thanks for holding"
matches "Thank you for holding", and Russian, Lithuanian or Turkish inflected forms match
their dictionary form. Longer words may differ by one or two letters (ASR slips).
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

import simplemma
import spacy
from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES
from spacy.language import Language
from spacy.matcher import Matcher
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


def _token_pattern(attr: str, value: str, fuzzy: bool) -> dict:
    if fuzzy and len(value) >= 8:
        return {attr: {"FUZZY2": value}}
    if fuzzy and len(value) >= 5:
        return {attr: {"FUZZY1": value}}
    return {attr: value}


def _sequence(values: list[str], attr: str, fuzzy: bool, max_inserted: int) -> list[dict]:
    pattern: list[dict] = []
    for i, value in enumerate(values):
        if i:
            pattern.append({"IS_PUNCT": True, "OP": "*"})
            pattern.extend({"IS_PUNCT": False, "OP": "?"} for _ in range(max_inserted))
        pattern.append(_token_pattern(attr, value, fuzzy))
    return pattern


def phrase_patterns(phrase: str, lang: str, fuzzy: bool, max_inserted: int = 2) -> list[list[dict]]:
    """Matcher patterns for a phrase: its lemmas in order, and (when fuzzy) also its surface
    forms with a letter or two of slack, which catches ASR slips in words the lemmatizer does
    not know ("недополен" for "недоволен").

    Punctuation may stand between the words, and up to `max_inserted` extra words between each
    pair ("thank you *so* much for calling"), as people rarely say a script word for word.
    """
    words = [t for t in pipeline(lang)(phrase) if not (t.is_punct or t.is_space)]
    if not words:
        return []
    patterns = [_sequence([t.lemma_ for t in words], "LEMMA", fuzzy, max_inserted)]
    if fuzzy:
        patterns.append(_sequence([t.norm_ for t in words], "NORM", fuzzy, max_inserted))
    return patterns


class PhraseIndex:
    """Every phrase list of a rubric in one language, matched in a single pass over a text."""

    def __init__(self, lang: str):
        self.lang = lang
        self.matcher = Matcher(pipeline(lang).vocab)
        self.version = 0  # bumped on every add, so cached results can tell they are stale

    def add(self, label: str, phrases: list[str], fuzzy: bool = True) -> "PhraseList":
        """Register a phrase list under `label` (once) and return its handle."""
        if label not in self.matcher:
            patterns = [p for ph in phrases for p in phrase_patterns(ph, self.lang, fuzzy)]
            if patterns:
                self.matcher.add(label, patterns)
            self.version += 1
        return PhraseList(self, label)

    def find_all(self, doc: Doc) -> dict[str, list[tuple[int, int]]]:
        """Label -> character spans of its matches in `doc.text` (longest where they overlap)."""
        spans: dict[str, list] = {}
        strings = doc.vocab.strings
        for match_id, start, end in self.matcher(doc):
            spans.setdefault(strings[match_id], []).append(doc[start:end])
        return {label: [(sp.start_char, sp.end_char) for sp in spacy.util.filter_spans(found)]
                for label, found in spans.items()}


class PhraseList:
    """Handle to one labelled phrase list of a `PhraseIndex`."""

    def __init__(self, index: PhraseIndex, label: str):
        self.index, self.label = index, label

    def find(self, doc: Doc) -> list[tuple[int, int]]:
        """Character spans of this list's matches in `doc.text`."""
        return self.index.find_all(doc).get(self.label, [])


def phrase_list(phrases: list[str], lang: str, fuzzy: bool = True) -> PhraseList:
    """A stand-alone phrase list (its own index), for one-off searches."""
    return PhraseIndex(lang).add("phrases", phrases, fuzzy)
