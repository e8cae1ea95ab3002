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


def _token_pattern(lemma: str, fuzzy: bool) -> dict:
    if fuzzy and len(lemma) >= 8:
        return {"LEMMA": {"FUZZY2": lemma}}
    if fuzzy and len(lemma) >= 5:
        return {"LEMMA": {"FUZZY1": lemma}}
    return {"LEMMA": lemma}


def phrase_pattern(phrase: str, lang: str, fuzzy: bool, max_inserted: int = 2) -> list[dict]:
    """Matcher pattern for a phrase: its lemmas in order.

    Punctuation may stand between them, and up to `max_inserted` extra words between each
    pair ("thank you *so* much for calling"), as people rarely say a script word for word.
    """
    doc = pipeline(lang)(phrase)
    lemmas = [t.lemma_ for t in doc if not (t.is_punct or t.is_space)]
    pattern: list[dict] = []
    for i, lemma in enumerate(lemmas):
        if i:
            pattern.append({"IS_PUNCT": True, "OP": "*"})
            pattern.extend({"IS_PUNCT": False, "OP": "?"} for _ in range(max_inserted))
        pattern.append(_token_pattern(lemma, fuzzy))
    return pattern


class PhraseMatcher:
    """Finds any of a list of phrases in lemmatised text of one language."""

    def __init__(self, phrases: list[str], lang: str, fuzzy: bool = True):
        self.lang = lang
        self.phrases = phrases
        self.matcher = Matcher(pipeline(lang).vocab)
        for i, phrase in enumerate(phrases):
            pattern = phrase_pattern(phrase, lang, fuzzy)
            if pattern:
                self.matcher.add(str(i), [pattern])

    def find(self, doc: Doc) -> list[tuple[int, int]]:
        """Character spans (start, end) in `doc.text` of every match, longest first where they overlap."""
        spans = spacy.util.filter_spans([doc[s:e] for _, s, e in self.matcher(doc)])
        return [(span.start_char, span.end_char) for span in spans]
