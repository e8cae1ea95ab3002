"""A transcript prepared for phrase search: each turn's tokens (`scoring.text.TurnTokens`, stored
with the transcript or analysed here), matches mapped to seconds."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from qa_types import Evidence, Role, Transcript, Turn
from scoring.text import PhraseList, TurnTokens, analyse, pipeline

if TYPE_CHECKING:
    from scoring.meaning import CallSentences


_UNKNOWN = Role.UNKNOWN


@dataclass(frozen=True)
class Match:
    """A phrase found in one turn, with its time span."""

    turn_index: int
    quote: str
    role: Role
    start: float
    end: float

    def evidence(self) -> Evidence:
        return Evidence(quote=self.quote, role=self.role.value, start=self.start, end=self.end)


def _span_times(turn: Turn, start_char: int, end_char: int) -> tuple[float, float]:
    """Seconds covered by the words under characters [start_char, end_char) of `turn.text`."""
    if not turn.words:
        return round(turn.start, 3), round(turn.end, 3)
    raw = "".join(w.text for w in turn.words)
    offset = len(raw) - len(raw.lstrip())  # turn.text is `raw` stripped
    covered, pos = [], -offset
    for word in turn.words:
        w_start, pos = pos, pos + len(word.text)
        if w_start < end_char and pos > start_char:
            covered.append(word)
    if not covered:
        return turn.start, turn.end
    return round(covered[0].start, 3), round(max(w.end for w in covered), 3)


def timed_tokens(turn: Turn, tokens: TurnTokens) -> TurnTokens:
    """`tokens` of `turn.text` with each token's time span: the start of the first and the latest
    end of the words whose characters it overlaps (as `_span_times` maps characters to seconds),
    so a match's seconds come from its tokens without reading the words again."""
    if not turn.words:
        return replace(tokens, times=None)
    raw = "".join(w.text for w in turn.words)
    pos = -(len(raw) - len(raw.lstrip()))  # turn.text is `raw` stripped
    bounds = []
    for word in turn.words:
        bounds.append((pos, pos + len(word.text), word.start, word.end))
        pos += len(word.text)
    times, first = [], 0
    for start_char, end_char in zip(tokens.starts, tokens.ends):
        while first < len(bounds) and bounds[first][1] <= start_char:
            first += 1
        covered = []
        for b in bounds[first:]:
            if b[0] >= end_char:
                break
            if b[1] > start_char:
                covered.append(b)
        times.append((covered[0][2], max(b[3] for b in covered)) if covered else None)
    return replace(tokens, times=times)


def token_span_times(turn: Turn, tokens: TurnTokens, first: int, end: int) -> tuple[float, float]:
    """Seconds covered by tokens [first, end) of the turn: what `_span_times` gives for their
    characters."""
    if tokens.times is None:
        return round(turn.start, 3), round(turn.end, 3)
    covered = [t for t in tokens.times[first:end] if t is not None]
    if not covered:
        return turn.start, turn.end
    return round(covered[0][0], 3), round(max(t[1] for t in covered), 3)


def analyse_turns(turns: list[Turn], lang: str) -> list[TurnTokens]:
    """Each turn's tokens (`scoring.text.analyse`) with their time spans."""
    return [timed_tokens(turn, tokens) for turn, tokens in zip(turns, analyse((t.text for t in turns), lang))]


class CallText:
    """Turns of one call, tokenised and lemmatised once, searched by many checks.

    `sentences`: the call's sentences and their vectors (`scoring.meaning.CallSentences`), as
    stored with the transcript; None: embedded by the first meaning check that needs them.
    `tokens`: each turn's tokens as stored with the transcript (`scoring.text.analyse` made
    them); None: the turns are analysed now."""

    def __init__(self, transcript: Transcript, sentences: CallSentences | None = None,
                 tokens: list[TurnTokens] | None = None):
        self.transcript = transcript
        self.sentences = sentences
        self.lang = transcript.language
        if tokens is None or len(tokens) != len(transcript.turns):
            tokens = analyse_turns(transcript.turns, self.lang)
        self.tokens = tokens
        self._docs = None
        self._hits: dict[tuple[int, int], list[dict]] = {}

    @property
    def docs(self):
        """Each turn's spaCy Doc (made on first use: sentence splitting needs them)."""
        if self._docs is None:
            self._docs = list(pipeline(self.lang).pipe(t.text for t in self.transcript.turns))
        return self._docs

    def _matches(self, phrases: PhraseList) -> list[dict[str, list[tuple[int, int]]]]:
        """Per turn, every label's matches of the phrase index as token spans (computed once per
        index version)."""
        key = (id(phrases.index), phrases.index.version)
        if key not in self._hits:
            self._hits[key] = [phrases.index.token_spans(tokens) for tokens in self.tokens]
        return self._hits[key]

    def speaks(self, turn: Turn, speaker: str) -> bool:
        """Whether `turn` counts as `speaker` ('agent', 'customer' or 'any').

        With no roles known (mono call before speaker separation) every turn counts.
        """
        return speaker == "any" or turn.role == speaker or turn.role is _UNKNOWN  # Role is a str enum

    def find(
        self,
        phrases: PhraseList,
        speaker: str,
        windows: list[tuple[float, float]] | None = None,
    ) -> list[Match]:
        """Matches by `speaker` that overlap one of `windows` (anywhere when None)."""
        found = []
        label, turns = phrases.label, self.transcript.turns
        for i, hits in enumerate(self._matches(phrases)):
            spans = hits.get(label)
            if not spans or not self.speaks(turns[i], speaker):
                continue
            turn, tokens = turns[i], self.tokens[i]
            for first, last in spans:
                start, end = token_span_times(turn, tokens, first, last)
                if windows is None or any(start < w_end and end > w_start for w_start, w_end in windows):
                    quote = turn.text[tokens.starts[first]:tokens.ends[last - 1]]
                    found.append(Match(i, quote, turn.role, start, end))
        return found
