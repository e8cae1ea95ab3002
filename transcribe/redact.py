"""Personal data redaction, applied to a transcript before it is scored, stored or rendered.

Replaces e-mail addresses, IBANs, payment card numbers (13-19 digits passing the Luhn check),
phone numbers and spoken digit strings of card length with typed placeholders such as
``[CARD]``, in turn text and in the words (whose timings are kept), and counts them per call.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from qa_types import Transcript, Turn, Word

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
EMAIL_SPOKEN = re.compile(r"\b[\w.+-]+\s+(?:at|собака|эт)\s+[\w-]+\s+(?:dot|точка)\s+\w+\b", re.IGNORECASE)
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DIGIT_RUN = re.compile(r"(?<![\w])\+?\d[\d\s().-]*\d(?![\w])")

# Single digits as words, for spoken numbers (ASR often writes "four one one one ...").
DIGIT_WORDS = {
    **dict.fromkeys(["zero", "oh", "o"], "0"), "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ноль": "0", "один": "1", "два": "2", "три": "3", "четыре": "4", "пять": "5", "шесть": "6", "семь": "7",
    "восемь": "8", "девять": "9",
    "sıfır": "0", "bir": "1", "iki": "2", "üç": "3", "dört": "4", "beş": "5", "altı": "6", "yedi": "7",
    "sekiz": "8", "dokuz": "9",
}
SPOKEN_TOKEN = re.compile(r"\d+|[^\W\d_]+", re.UNICODE)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum used by payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digit_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    for m in DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            spans.append((m.start(), m.end(), "CARD"))
        elif (9 <= len(digits) <= 15 or (m.group().startswith("+") and len(digits) >= 7)) \
                and not ISO_DATE.fullmatch(m.group().strip()):
            spans.append((m.start(), m.end(), "PHONE"))
    return spans


def _spoken_digit_spans(text: str) -> list[tuple[int, int, str]]:
    """Runs of digit words / digit groups with 13-19 digits in all (a card number read aloud)."""
    spans, run = [], []
    for m in SPOKEN_TOKEN.finditer(text):
        token = m.group().lower()
        digits = token if token.isdigit() else DIGIT_WORDS.get(token)
        gap_ok = not run or re.fullmatch(r"[\s,.-]*", text[run[-1][1]:m.start()])
        if digits is not None and gap_ok:
            run.append((m.start(), m.end(), digits))
            continue
        spans += _close_run(run)
        run = [(m.start(), m.end(), digits)] if digits is not None else []
    return spans + _close_run(run)


def _close_run(run) -> list[tuple[int, int, str]]:
    digits = "".join(d for _, _, d in run)
    if 13 <= len(digits) <= 19 and any(not d.isdigit() or len(d) == 1 for _, _, d in run):
        return [(run[0][0], run[-1][1], "CARD" if luhn_valid(digits) else "DIGITS")]
    return []


def find_personal_data(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) spans of personal data in `text`."""
    candidates = [(m.start(), m.end(), "EMAIL") for m in EMAIL.finditer(text)]
    candidates += [(m.start(), m.end(), "EMAIL") for m in EMAIL_SPOKEN.finditer(text)]
    candidates += [(m.start(), m.end(), "IBAN") for m in IBAN.finditer(text)]
    candidates += _spoken_digit_spans(text) + _digit_spans(text)
    chosen: list[tuple[int, int, str]] = []
    for span in sorted(candidates, key=lambda s: (s[0], -(s[1] - s[0]))):
        if not chosen or span[0] >= chosen[-1][1]:
            chosen.append(span)
    return chosen


def redact_turn(turn: Turn, counts: Counter) -> Turn:
    spans = find_personal_data(turn.text)
    if not spans:
        return turn
    text, pos, pieces = turn.text, 0, []
    for start, end, kind in spans:
        pieces += [text[pos:start], f"[{kind}]"]
        counts[kind] += 1
        pos = end
    pieces.append(text[pos:])
    return replace(turn, text="".join(pieces), words=_redact_words(turn, spans))


def _redact_words(turn: Turn, spans: list[tuple[int, int, str]]) -> list[Word]:
    """Words under a span collapse into one placeholder word spanning their time."""
    raw = "".join(w.text for w in turn.words)
    offset, pos, out, used = len(raw) - len(raw.lstrip()), 0, [], set()
    for word in turn.words:
        start, end = pos - offset, pos - offset + len(word.text)
        pos += len(word.text)
        hit = next((s for s in spans if start < s[1] and end > s[0]), None)
        if hit is None:
            out.append(word)
        elif hit not in used:
            used.add(hit)
            out.append(replace(word, text=f" [{hit[2]}]"))
        else:
            out[-1] = replace(out[-1], end=max(out[-1].end, word.end))
    return out


def redact(transcript: Transcript) -> tuple[Transcript, dict[str, int]]:
    """The transcript with personal data replaced, and how many of each kind were found."""
    counts: Counter = Counter()
    turns = [redact_turn(t, counts) for t in transcript.turns]
    return replace(transcript, turns=turns), dict(counts)
