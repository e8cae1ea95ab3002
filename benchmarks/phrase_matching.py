"""Phrase matching with many phrases: the phrase index (scoring.text) against the spaCy Matcher
it replaced, on the same calls, side by side.

    .venv/bin/python -m benchmarks.phrase_matching [--phrases 20000] [--calls 3] [--turns 20]

Prints, for each approach, the time to build the matcher once and the time per call (every
turn of a call matched against every phrase), the ratio old/new, how many turns gave the same
matches, and the time `RubricScorer.score` takes per call with the phrases in a rubric.

The old approach is the previous `scoring.text` code: one spaCy `Matcher` pattern per phrase
(lemmas, and for fuzzy lists also surface forms, with FUZZY1/FUZZY2 predicates and optional
tokens for inserted words). spaCy's `Matcher.add` is quadratic in the number of fuzzy
patterns (about 47 s for 5,000 phrases here), so the old matcher is built in shards of
`--old-shard` phrases whose matches are merged; a Matcher tries every pattern at every token,
so the per-call time of the shards adds up to that of one big Matcher.
"""
from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import spacy
from spacy.matcher import Matcher
from spacy.tokens import Doc

from qa_types import Role, Transcript, Turn
from scoring import RubricScorer, parse_rubric
from scoring.text import PhraseIndex, pipeline


# --- the old approach (scoring/text.py before the phrase index) ---------------------------------

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


def old_phrase_patterns(phrase: str, lang: str, fuzzy: bool, max_inserted: int = 2) -> list[list[dict]]:
    words = [t for t in pipeline(lang)(phrase) if not (t.is_punct or t.is_space)]
    if not words:
        return []
    patterns = [_sequence([t.lemma_ for t in words], "LEMMA", fuzzy, max_inserted)]
    if fuzzy:
        patterns.append(_sequence([t.norm_ for t in words], "NORM", fuzzy, max_inserted))
    return patterns


class OldPhraseIndex:
    """The spaCy-Matcher index, built in shards (see the module docstring)."""

    def __init__(self, lang: str, shard: int):
        self.lang, self.shard = lang, shard
        self.matchers: list[Matcher] = []

    def add(self, label: str, phrases: list[str], fuzzy: bool = True) -> None:
        for i in range(0, len(phrases), self.shard):
            matcher = Matcher(pipeline(self.lang).vocab)
            patterns = [p for ph in phrases[i:i + self.shard] for p in old_phrase_patterns(ph, self.lang, fuzzy)]
            if patterns:
                matcher.add(label, patterns)
                self.matchers.append(matcher)

    def find_all(self, doc: Doc) -> dict[str, list[tuple[int, int]]]:
        spans: dict[str, list] = {}
        strings = doc.vocab.strings
        for matcher in self.matchers:
            for match_id, start, end in matcher(doc):
                spans.setdefault(strings[match_id], []).append(doc[start:end])
        return {label: [(sp.start_char, sp.end_char) for sp in spacy.util.filter_spans(found)]
                for label, found in spans.items()}


# --- workload -------------------------------------------------------------------------------------

def vocabulary(lang: str) -> list[str]:
    """Dictionary words of `lang` (simplemma's lemma list), sorted for a stable sample."""
    from simplemma.strategies.dictionaries.dictionary_factory import DefaultDictionaryFactory

    table = DefaultDictionaryFactory().get_dictionary(lang)
    words = {v.decode() if isinstance(v, bytes) else v for v in table.values()}
    return sorted(w for w in words if w.isalpha() and w.islower() and 3 <= len(w) <= 12)


def slip(word: str, rng: random.Random) -> str:
    """The word with one letter changed (an ASR slip)."""
    i = rng.randrange(len(word))
    return word[:i] + rng.choice("aeiourstn") + word[i + 1:]


def make_calls(phrases: list[str], words: list[str], calls: int, turns: int, rng: random.Random) -> list[list[str]]:
    """Turns of ~20 words, some quoting a phrase (sometimes with a slip or an inserted word).

    No comma follows an inserted word: there the old Matcher (punctuation, then up to two
    words) missed phrases the index finds (punctuation and words in any order), and the
    comparison is about speed on identical results."""
    out = []
    for _ in range(calls):
        lines = []
        for _ in range(turns):
            tokens = [rng.choice(words) for _ in range(rng.randint(12, 24))]
            for _ in range(rng.randint(0, 2)):
                quoted = rng.choice(phrases).split()
                if rng.random() < 0.3:
                    k = rng.randrange(len(quoted))
                    quoted[k] = slip(quoted[k], rng) if len(quoted[k]) >= 5 else quoted[k]
                if len(quoted) > 1 and rng.random() < 0.3:
                    quoted.insert(rng.randrange(1, len(quoted)), rng.choice(words))
                at = rng.randrange(len(tokens) + 1)
                tokens[at:at] = quoted
            lines.append(" ".join(tokens).capitalize() + ".")
        out.append(lines)
    return out


def time_matcher(make: Callable[[], PhraseIndex | OldPhraseIndex], phrases: list[str], calls: list[list[str]],
                 nlp: spacy.Language) -> tuple[float, float, list]:
    """Time one approach: the seconds to make its matcher and add `phrases` (fuzzy), the seconds
    per call to match every turn of `calls` (tokenising not counted), and each turn's matches."""
    t0 = time.perf_counter()
    matcher = make()
    matcher.add("big", phrases, fuzzy=True)
    build = time.perf_counter() - t0
    seconds, hits = 0.0, []
    for lines in calls:
        docs = list(nlp.pipe(lines))
        t0 = time.perf_counter()
        hits += [matcher.find_all(doc).get("big", []) for doc in docs]
        seconds += time.perf_counter() - t0
    return build, seconds / len(calls), hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phrases", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--old-shard", type=int, default=2_000, help="phrases per spaCy Matcher of the old approach")
    parser.add_argument("--skip-old", action="store_true", help="time the phrase index only")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    words = vocabulary(args.lang)
    phrases = list(dict.fromkeys(" ".join(rng.choice(words) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
                                 for _ in range(args.phrases)))
    calls = make_calls(phrases, words, args.calls, args.turns, rng)
    nlp = pipeline(args.lang)
    print(f"{len(phrases)} phrases ({args.lang}, fuzzy), {args.calls} calls of {args.turns} turns "
          f"({sum(len(t.split()) for c in calls for t in c) // args.calls} words per call)")

    new_build, new_per_call, new_hits = time_matcher(lambda: PhraseIndex(args.lang), phrases, calls, nlp)
    print(f"new  phrase index  : build {new_build:8.2f} s, {new_per_call * 1000:10.1f} ms per call "
          f"({sum(map(len, new_hits))} matches)")

    if not args.skip_old:
        old_build, old_per_call, old_hits = time_matcher(lambda: OldPhraseIndex(args.lang, args.old_shard),
                                                         phrases, calls, nlp)
        same = sum(a == b for a, b in zip(old_hits, new_hits))
        print(f"old  spaCy Matcher : build {old_build:8.2f} s (in shards of {args.old_shard}), "
              f"{old_per_call * 1000:10.1f} ms per call ({sum(map(len, old_hits))} matches)")
        print(f"ratio old/new per call: {old_per_call / new_per_call:.0f}x; "
              f"same matches in {same} of {len(new_hits)} turns")

    rubric = parse_rubric("id: big\nname: big\nphrase_sets: {big: {%s: [%s]}}\n"
                          "sections: [{id: s, criteria: [{id: said, check: {phrases: $big, speaker: any}}]}]\n"
                          % (args.lang, ", ".join(f'"{p}"' for p in phrases)), "big.yaml")
    scorer = RubricScorer(rubric)
    cards = [Transcript(turns=[Turn(speaker=role, role=Role(role), start=5.0 * i, end=5.0 * i + 4, text=line)
                               for i, line in enumerate(lines) for role in ["agent" if i % 2 == 0 else "customer"]],
                        language=args.lang, duration=5.0 * len(lines), channels=2) for lines in calls]
    t0 = time.perf_counter()
    scorer.score(cards[0])
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for card in cards:
        scorer.score(card)
    per_score = (time.perf_counter() - t0) / len(cards)
    print(f"RubricScorer.score : first call {first:.2f} s (builds the index), then {per_score * 1000:.1f} ms per call "
          f"(tokenising the call included)")


if __name__ == "__main__":
    main()
