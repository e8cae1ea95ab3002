"""A transcript prepared for phrase search: one spaCy Doc per turn, matches mapped to seconds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa_types import Evidence, Role, Transcript, Turn
from scoring.text import PhraseList, pipeline

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


class CallText:
    """Turns of one call, tokenised and lemmatised once, searched by many checks.

    `sentences`: the call's sentences and their vectors (`scoring.meaning.CallSentences`), as
    stored with the transcript; None: embedded by the first meaning check that needs them."""

    def __init__(self, transcript: Transcript, sentences: CallSentences | None = None):
        self.transcript = transcript
        self.sentences = sentences
        self.lang = transcript.language
        self.docs = list(pipeline(self.lang).pipe(t.text for t in transcript.turns))
        self._hits: dict[tuple[int, int], list[dict]] = {}

    def _matches(self, phrases: PhraseList) -> list[dict[str, list[tuple[int, int]]]]:
        """Per turn, every label's matches of the phrase index (computed once per index version)."""
        key = (id(phrases.index), phrases.index.version)
        if key not in self._hits:
            self._hits[key] = [phrases.index.find_all(doc) for doc in self.docs]
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
        per_turn = self._matches(phrases)
        for i, turn in enumerate(self.transcript.turns):
            if not self.speaks(turn, speaker):
                continue
            for start_char, end_char in per_turn[i].get(phrases.label, ()):
                start, end = _span_times(turn, start_char, end_char)
                if windows is None or any(start < w_end and end > w_start for w_start, w_end in windows):
                    found.append(Match(i, turn.text[start_char:end_char], turn.role, start, end))
        return found
