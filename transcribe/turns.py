"""Group time-stamped words of several speakers into turns."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from qa_types import Role, Turn, Word

MAX_GAP_IN_TURN_S = 2.0


def words_to_turns(
    words: Iterable[Word],
    roles: Mapping[str, Role],
    max_gap: float = MAX_GAP_IN_TURN_S,
) -> list[Turn]:
    """Turns ordered by start time.

    A turn is one speaker's run of words with no pause over `max_gap` seconds. Turns of
    different speakers may overlap (both talking at once), so a short interjection does not
    cut the other speaker's sentence in pieces.
    """
    by_speaker: dict[str, list[Word]] = defaultdict(list)
    for word in words:
        by_speaker[word.speaker].append(word)
    turns: list[Turn] = []
    for speaker, spoken in by_speaker.items():
        current: list[Word] = []
        for word in sorted(spoken, key=lambda w: (w.start, w.end)):
            if current and word.start - current[-1].end > max_gap:
                turns.append(_turn(speaker, roles, current))
                current = []
            current.append(word)
        if current:
            turns.append(_turn(speaker, roles, current))
    return sorted(turns, key=lambda t: (t.start, t.end))


def _turn(speaker: str, roles: Mapping[str, Role], words: list[Word]) -> Turn:
    return Turn(
        speaker=speaker,
        role=roles.get(speaker, Role.UNKNOWN),
        start=words[0].start,
        end=max(w.end for w in words),
        text="".join(w.text for w in words).strip(),
        words=list(words),
    )
