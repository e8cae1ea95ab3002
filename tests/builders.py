"""Build transcripts by hand for scoring tests (words spread evenly over each line's time)."""
from __future__ import annotations

from qa_types import Role, Transcript, Turn, Word


def line(role: str, start: float, end: float, text: str) -> Turn:
    tokens = text.split()
    step = (end - start) / max(len(tokens), 1)
    words = [Word(text=" " + tok, start=round(start + i * step, 3), end=round(start + (i + 1) * step, 3),
                  speaker=role) for i, tok in enumerate(tokens)]
    return Turn(speaker=role, role=Role(role), start=start, end=end, text=text, words=words)


def transcript(lines: list[tuple[str, float, float, str]], language: str = "en",
               duration: float | None = None) -> Transcript:
    turns = [line(*spec) for spec in lines]
    return Transcript(turns=turns, language=language, duration=duration or max(t.end for t in turns) + 1.0,
                      channels=2)
