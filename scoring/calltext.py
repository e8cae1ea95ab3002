"""A transcript prepared for phrase search: one spaCy Doc per turn, matches mapped to seconds."""
from __future__ import annotations

from dataclasses import dataclass

from qa_types import Evidence, Role, Transcript, Turn
from scoring.text import PhraseMatcher, pipeline


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
    """Turns of one call, tokenised and lemmatised once, searched by many checks."""

    def __init__(self, transcript: Transcript):
        self.transcript = transcript
        self.lang = transcript.language
        self.docs = list(pipeline(self.lang).pipe(t.text for t in transcript.turns))
        self.roles_known = any(t.role != Role.UNKNOWN for t in transcript.turns)

    def speaks(self, turn: Turn, speaker: str) -> bool:
        """Whether `turn` counts as `speaker` ('agent', 'customer' or 'any').

        With no roles known (mono call before speaker separation) every turn counts.
        """
        return speaker == "any" or turn.role.value == speaker or turn.role == Role.UNKNOWN

    def find(
        self,
        matcher: PhraseMatcher,
        speaker: str,
        windows: list[tuple[float, float]] | None = None,
    ) -> list[Match]:
        """Matches by `speaker` that overlap one of `windows` (anywhere when None)."""
        found = []
        for i, (turn, doc) in enumerate(zip(self.transcript.turns, self.docs)):
            if not self.speaks(turn, speaker):
                continue
            for start_char, end_char in matcher.find(doc):
                start, end = _span_times(turn, start_char, end_char)
                if windows is None or any(start < w_end and end > w_start for w_start, w_end in windows):
                    found.append(Match(i, turn.text[start_char:end_char], turn.role, start, end))
        return found
