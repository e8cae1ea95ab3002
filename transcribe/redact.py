"""Personal data redaction, applied to a transcript before it is scored, stored or rendered.

Replaces e-mail addresses, IBANs, payment card numbers, phone numbers and long spoken digit
strings with typed placeholders such as ``[CARD]``, in turn text and in the words (whose timings
are kept, and which keep spelling the turn's text), and counts them per call.

Numbers are found as the speech recogniser writes them: digit groups ("4539 1488"), number words
in English, Russian and Turkish, read digit by digit, in pairs or in groups ("forty five thirty
nine", "сорок пять тридцать девять", "kırk beş otuz dokuz", "two thousand two hundred"), with
fillers ("um", "эм", "şey") inside, and split over two turns of one speaker, across a short
interjection of the other party ("mhm"). What a run of digits is decides its kind:

- CARD: 13-19 digits passing the Luhn check (the whole run or a part of it along its groups);
- PHONE: a leading plus ("+", "plus", "плюс", "artı") and 7-15 digits, or 9-15 digits;
- DIGITS: 13-19 digits read as words that fail the Luhn check (a card number misheard).

IBANs (any case, spaced or not) count only when their checksum holds; e-mail addresses are found
written ("a@b.com"), spoken ("john dot smith at example dot com", "собака", "точка", "nokta",
"et") and as Whisper glues them ("john.smithatexample.com").
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

from stdnum import iban as stdnum_iban
from stdnum import luhn

from qa_types import Transcript, Turn, Word

Span = tuple[int, int, str]

# ------------------------------------------------------------------------------------ e-mail

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")

_W = r"[^\W_]+"                               # one word or digit group (any script)
_L = r"[^\W\d_]{2,}(?![^\W_])"                # a top-level domain: letters
_DOT = r"(?:\.|\s+(?:dot|точка|nokta)\s+)"
_DASH = r"(?:-|\s+(?:dash|hyphen|тире|дефис|tire)\s+)"
_UNDERSCORE = r"(?:_|\s+(?:underscore|нижнее\s+подч[её]ркивание|подч[её]ркивание|alt\s+tire|alt\s+çizgi)\s+)"
_AT = r"(?:\s*@\s*|\s+(?:at\s+işareti|at|собака|собачка|эт|et)\s+)"
EMAIL_SPOKEN = re.compile(
    rf"(?<![\w@.'’])(?P<local>{_W}(?:(?:{_DOT}|{_DASH}|{_UNDERSCORE}|\+){_W}){{0,8}})"
    rf"(?P<at>{_AT})(?P<domain>{_W}(?:(?:{_DOT}|{_DASH}){_W}){{0,6}}?(?:{_DOT}{_L}){{1,4}})(?!{_AT})",
    re.IGNORECASE)
# Whisper's spelling of "john dot smith at example dot com": john.smithatexample.com
EMAIL_GLUED = re.compile(r"(?<![\w@./])[\w+-]+(?:\.[\w+-]+)*at[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b", re.IGNORECASE)
# Addresses said with a plain "at" and no separator in the local part ("jane at gmail.com") are
# taken only at these providers: "it at amazon.com" or "greatdeals.com" are not addresses.
MAIL_PROVIDERS = {
    "gmail", "googlemail", "yahoo", "ymail", "hotmail", "outlook", "live", "msn", "icloud", "me", "aol",
    "proton", "protonmail", "pm", "gmx", "mail", "yandex", "ya", "rambler", "bk", "list", "inbox",
    "mynet", "windowslive", "яндекс", "мейл", "майл", "рамблер",
}
# "en_03_bob_empathy.wav" is a file name, not "en_03_bob_emp@hy.wav".
FILE_EXTENSIONS = set("wav mp3 m4a ogg opus flac aac wma json yaml yml csv txt pdf doc docx xls xlsx html htm xml "
                      "zip rar exe py js jpg jpeg png gif mp4 mov avi srt vtt rttm".split())
# Words that stand before a plain "at" in speech ("look at this dot com"): not a local part alone.
AT_PHRASE_WORDS = set("""
    look looking looked is was be been are am were it me us him her them you there here this that
    arrive arrived stay staying work working works live living lives available call called calling
    email mail write reach contact find found buy bought order ordered online site website home
""".split())


def _email_spans(text: str) -> list[Span]:
    spans = [(m.start(), m.end(), "EMAIL") for m in EMAIL.finditer(text)]
    for m in EMAIL_SPOKEN.finditer(text):
        local_joined = m.group("local") != re.match(_W, m.group("local")).group()
        spoken_domain = bool(re.search(r"\s", m.group("domain")))
        provider = re.match(_W, m.group("domain")).group().lower()
        top_level = re.search(rf"{_L}$", m.group("domain")).group().lower()
        if top_level in NUMBER_WORDS_ALL:                          # "at five dot thirty"
            continue
        if m.group("at").strip() == "@" or local_joined or provider in MAIL_PROVIDERS or (
                spoken_domain and m.group("local").lower() not in AT_PHRASE_WORDS):
            spans.append((m.start(), m.end(), "EMAIL"))
    for m in EMAIL_GLUED.finditer(text):
        token = m.group()
        if token.lower().startswith("www.") or token.rsplit(".", 1)[1].lower() in FILE_EXTENSIONS:
            continue
        for split in (i for i in range(1, len(token) - 2) if token[i:i + 2].lower() == "at"):
            local, domain = token[:split], token[split + 2:]
            if "." in domain and domain[0] not in ".-" and local[-1] not in ".-" and (
                    re.search(r"[._\d]", local) or domain.split(".")[0].lower() in MAIL_PROVIDERS):
                spans.append((m.start(), m.end(), "EMAIL"))
                break
    return spans

# ------------------------------------------------------------------------------------ IBAN

# Country code and check digits: "gb82", "GB82", "GB 82" (not "at 12" or "is 45": words before a number).
IBAN_START = re.compile(r"(?<![A-Za-z0-9])(?:[A-Z]{2} ?|[A-Za-z]{2})\d{2}")
IBAN_PART = re.compile(r"[ -]?([A-Za-z0-9]+)")


def _iban_spans(text: str) -> list[Span]:
    """IBANs in any case, in groups or in one piece; only those whose checksum holds."""
    spans = []
    for m in IBAN_START.finditer(text):
        ends, compact, pos = [], m.group().replace(" ", ""), m.end()
        while len(compact) < 34 and (part := IBAN_PART.match(text, pos)):
            compact += part.group(1)
            pos = part.end()
            ends.append((pos, compact))
        for end, candidate in reversed(ends):
            if len(candidate) <= 34 and stdnum_iban.is_valid(candidate):
                spans.append((m.start(), end, "IBAN"))
                break
    return spans

# ------------------------------------------------------------------------------------ numbers


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum used by payment card numbers."""
    return luhn.is_valid(digits)


# Number words: kind and value. Kinds: zero and unit (one digit), teen (10-19, takes no unit),
# tens (20-90; Turkish "on" = 10 takes a unit: "on beş" = 15), hundreds (Russian 100-900),
# hundred and thousand (multipliers: "five hundred", "beş yüz", "две тысячи"; alone 100, 1000),
# repeat (English "double", "triple").
_EN = {
    **dict.fromkeys(["zero", "oh", "o", "nought"], ("zero", 0)),
    **{w: ("unit", i) for i, w in enumerate("one two three four five six seven eight nine".split(), 1)},
    **{w: ("teen", i) for i, w in enumerate(
        "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split(), 10)},
    **{w: ("tens", 10 * i) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)},
    "hundred": ("hundred", 100), "thousand": ("thousand", 1000), "double": ("repeat", 2), "triple": ("repeat", 3),
}
_RU = {
    "ноль": ("zero", 0), "нуль": ("zero", 0), "одна": ("unit", 1), "одно": ("unit", 1), "две": ("unit", 2),
    **{w: ("unit", i) for i, w in enumerate("один два три четыре пять шесть семь восемь девять".split(), 1)},
    **{w: ("teen", i) for i, w in enumerate(
        "десять одиннадцать двенадцать тринадцать четырнадцать пятнадцать шестнадцать семнадцать "
        "восемнадцать девятнадцать".split(), 10)},
    **{w: ("tens", 10 * i) for i, w in enumerate(
        "двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто".split(), 2)},
    **{w: ("hundreds", 100 * i) for i, w in enumerate(
        "сто двести триста четыреста пятьсот шестьсот семьсот восемьсот девятьсот".split(), 1)},
    **dict.fromkeys(["тысяча", "тысячи", "тысяч"], ("thousand", 1000)),
}
_TR = {
    "sıfır": ("zero", 0),
    **{w: ("unit", i) for i, w in enumerate("bir iki üç dört beş altı yedi sekiz dokuz".split(), 1)},
    **{w: ("tens", 10 * i) for i, w in enumerate("on yirmi otuz kırk elli altmış yetmiş seksen doksan".split(), 1)},
    "yüz": ("hundred", 100), "bin": ("thousand", 1000),
}
NUMBER_WORDS = {"en": _EN, "ru": _RU, "tr": _TR}
# Language unknown: all of them, except Turkish words that are common English ones.
NUMBER_WORDS_ANY = {**{w: v for w, v in _TR.items() if w not in {"on", "bin"}}, **_RU, **_EN}
NUMBER_WORDS_ALL = {**_TR, **_RU, **_EN}
PLUS_WORDS = {"plus", "плюс", "artı"}
AND_WORDS = {"and"}                        # "one hundred and twenty"
FILLER = re.compile(r"(?:u+m+|u+h+|e+r+m*|e+h+|a+h+|h+m+|m+h*m*|э+м*|м+|х+м+|ну|ы+|ı+|e{2,}|ş+e+y+|hı+)",
                    re.IGNORECASE)
TOKEN = re.compile(r"\d+|[^\W\d_]+|\S")
GAP_PUNCT = set(",.-–—…()")
MAX_FILLERS = 3                            # filler words between two groups of one number


@dataclass
class _Chunk:
    """A group of digits: written ("4539") or spoken ("forty five" -> "45")."""

    start: int
    end: int
    digits: str
    spoken: bool
    plus: bool = False


def _tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group().lower().replace("ё", "е")) for m in TOKEN.finditer(text)]


def _in_identifier(text: str, start: int, end: int) -> bool:
    """Digits that are part of a code with letters: "A320", "INV-2024-000123", "gb82"."""
    if (start > 0 and text[start - 1].isalpha()) or (end < len(text) and text[end].isalpha()):
        return True
    word_start = max(text.rfind(ch, 0, start) for ch in " \t\n") + 1
    word_end = min([i for i in (text.find(ch, end) for ch in " \t\n") if i >= 0] or [len(text)])
    word = text[word_start:word_end].rstrip(",.;:!?)")
    return bool(re.fullmatch(r"[\w/-]+", word)) and any(ch.isalpha() for ch in word)


def _number_items(text: str, vocab: dict, blocked: list[Span]) -> list:
    """The text as digit chunks (spoken numbers composed: "forty five" -> 45, "beş yüz" -> 500),
    ("plus", at), ("filler", at) and ("punct", char) items, and None for anything else."""
    tokens = _tokens(text)
    items: list = []
    group: dict | None = None           # the spoken number being composed

    def close():
        nonlocal group
        if group is not None:
            items.append(_Chunk(group["start"], group["end"], str(group["total"] + group["cur"]), True))
            group = None

    def kind_at(j):
        return vocab.get(tokens[j][2], (None,))[0] if j < len(tokens) else None

    i = 0
    while i < len(tokens):
        start, end, tok = tokens[i]
        if any(start < b_end and end > b_start for b_start, b_end, _ in blocked):
            close()
            items.append(None)
            i += 1
            continue
        kind, value = vocab.get(tok, (None, None))
        if tok.isdigit():
            close()
            items.append(None if _in_identifier(text, start, end) else _Chunk(start, end, tok, False))
        elif kind == "zero":
            close()
            items.append(_Chunk(start, end, "0", True))
        elif kind == "repeat":
            close()
            if kind_at(i + 1) in ("zero", "unit"):
                digit = str(vocab[tokens[i + 1][2]][1])
                items.append(_Chunk(start, tokens[i + 1][1], digit * value, True))
                i += 1
            else:
                items.append(None)
        elif kind is not None:
            last = group["last"] if group else None
            cur = group["cur"] if group else 0
            if kind == "unit":
                fits = last in (None, "hundred", "hundreds", "thousand") or (last == "tens" and cur % 10 == 0)
                if last == "tens" and kind_at(i + 1) == "hundred":      # "doksan | beş yüz"
                    fits = False
            elif kind in ("teen", "tens"):
                fits = last in (None, "hundred", "hundreds", "thousand")
            elif kind == "hundreds":
                fits = last in (None, "thousand")
            elif kind == "hundred":
                fits = last in (None, "thousand") or (last == "unit" and cur < 10)
            else:  # thousand
                fits = group is not None and group["total"] == 0 and last != "thousand"
            if not fits:
                close()
            if group is None:
                group = {"start": start, "end": end, "total": 0, "cur": 0, "last": None}
            if kind == "hundred":
                group["cur"] = max(group["cur"], 1) * 100 if group["last"] == "unit" else 100
            elif kind == "thousand":
                group["total"], group["cur"] = max(group["cur"], 1) * 1000, 0
            else:
                group["cur"] += value
            group["last"], group["end"] = kind, end
        elif tok in AND_WORDS and group and group["last"] in ("hundred", "thousand") \
                and kind_at(i + 1) in ("unit", "teen", "tens"):
            pass                                                        # "one hundred and five"
        elif tok in PLUS_WORDS or tok == "+":
            close()
            items.append(("plus", start))
        elif FILLER.fullmatch(tok):
            close()
            items.append(("filler", start))
        elif tok in GAP_PUNCT:
            close()
            items.append(("punct", tok))
        else:
            close()
            items.append(None)
        i += 1
    close()
    return items


def _runs(text: str, items: list) -> list[list[_Chunk]]:
    """Chunks that read as one number: only spaces, punctuation and fillers between them."""
    runs, run, fillers, plus_at = [], [], 0, None
    for item in items:
        if isinstance(item, _Chunk):
            decimal = bool(run) and not item.spoken and not run[-1].spoken \
                and text[run[-1].end:item.start] in (".", ",") and len(item.digits) <= 2   # 49.99
            if plus_at is not None or decimal or fillers > MAX_FILLERS:
                runs.append(run)
                run = []
            if plus_at is not None:
                item.start, item.plus = plus_at, True
            run.append(item)
            fillers, plus_at = 0, None
        elif item is None or item[0] == "plus":
            runs.append(run)
            run, fillers, plus_at = [], 0, item[1] if item else None
        else:
            fillers += item[0] == "filler"
            plus_at = None
    runs.append(run)
    return [r for r in runs if r]


CARD_LENGTHS = (16, 15, 19, 18, 17, 14, 13)   # the most common first


def _classify(run: list[_Chunk]) -> list[Span]:
    """Spans of one run of digit chunks: a card (or a card inside it), a phone, a spoken digit string."""
    if not run:
        return []
    digits = "".join(c.digits for c in run)
    n, spoken, plus = len(digits), any(c.spoken for c in run), run[0].plus
    whole = (run[0].start, run[-1].end)
    if plus and 7 <= n <= 15:
        return [(*whole, "PHONE")]
    if 13 <= n <= 19 and luhn_valid(digits):
        return [(*whole, "CARD")]
    if n > 13:
        # A card number inside a longer run ("... 6467 oh", "one 4539 ..."): along its groups.
        found = {}
        for i in range(len(run)):
            for j in range(i + 1, len(run) + 1):
                part = "".join(c.digits for c in run[i:j])
                if len(part) > 19:
                    break
                if (i, j) != (0, len(run)) and len(part) >= 13 and luhn_valid(part):
                    found.setdefault(len(part), (i, j))
        for length in CARD_LENGTHS:
            if length in found:
                i, j = found[length]
                return _classify(run[:i]) + [(run[i].start, run[j - 1].end, "CARD")] + _classify(run[j:])
    if spoken and 13 <= n <= 19:
        return [(*whole, "DIGITS")]
    if 9 <= n <= 15:
        return [(*whole, "PHONE")]
    return []


def _number_spans(text: str, vocab: dict, blocked: list[Span]) -> list[Span]:
    spans = []
    for run in _runs(text, _number_items(text, vocab, blocked)):
        for start, end, kind in _classify(run):
            if ")" in text[start:end] and start > 0 and text[start - 1] == "(":   # "(020) 7946 0958"
                start -= 1
            spans.append((start, end, kind))
    return spans

# ------------------------------------------------------------------------------------ finding


def _vocabulary(language: str | None) -> dict:
    return NUMBER_WORDS.get((language or "")[:2].lower(), NUMBER_WORDS_ANY)


def find_personal_data(text: str, language: str | None = None) -> list[Span]:
    """Non-overlapping (start, end, kind) spans of personal data in `text`, in order.

    `language` ("en", "ru", "tr") picks the number words; unknown or None: all of them.
    """
    chosen: list[Span] = []
    for candidates in (_email_spans(text), _iban_spans(text)):
        for span in sorted(candidates, key=lambda s: (s[0], -(s[1] - s[0]))):
            if not any(span[0] < c[1] and span[1] > c[0] for c in chosen):
                chosen.append(span)
    chosen += _number_spans(text, _vocabulary(language), chosen)
    return sorted(chosen)

# ------------------------------------------------------------------------------------ redacting


def _replace(text: str, spans: list[Span]) -> str:
    pieces, pos = [], 0
    for start, end, kind in sorted(spans):
        pieces += [text[pos:start], f"[{kind}]"]
        pos = end
    return "".join(pieces + [text[pos:]])


def _redact_words(words: list[Word], spans: list[Span], offset: int) -> list[Word]:
    """Words under a span become one word with the placeholder, spanning their time; text of those
    words outside the span (punctuation, a leading space) stays, so the words spell the new text.
    `spans` are in the coordinates of the joined words less `offset` leading characters."""
    bounds, pos = [], -offset
    for word in words:
        bounds.append((pos, pos + len(word.text)))
        pos += len(word.text)
    out, i = [], 0
    while i < len(words):
        hit = [s for s in spans if s[0] < bounds[i][1] and s[1] > bounds[i][0]]
        if not hit:
            out.append(words[i])
            i += 1
            continue
        j, reach = i, max(s[1] for s in hit)
        while j + 1 < len(words) and bounds[j + 1][0] < reach:   # words up to the last span's end
            j += 1
            reach = max([reach] + [s[1] for s in spans if s[0] < bounds[j][1] and s[1] > bounds[j][0]])
        lo, hi = bounds[i][0], bounds[j][1]
        inside = [(s - lo, e - lo, k) for s, e, k in spans if s < hi and e > lo]
        text = _replace("".join(w.text for w in words[i:j + 1]), inside)
        out.append(replace(words[i], text=text, end=max(w.end for w in words[i:j + 1]),
                           probability=min(w.probability for w in words[i:j + 1])))
        i = j + 1
    return out


def _apply(turn: Turn, spans: list[Span], language: str | None) -> Turn:
    """`turn` with `spans` of its text replaced, in text and words."""
    if not spans:
        return turn
    raw = "".join(w.text for w in turn.words)
    if raw.strip() == turn.text:
        words = _redact_words(turn.words, spans, len(raw) - len(raw.lstrip()))
    else:  # words that do not spell the text: searched on their own
        words = _redact_words(turn.words, find_personal_data(raw, language), 0)
    return replace(turn, text=_replace(turn.text, spans), words=words)


def redact_turn(turn: Turn, counts: Counter, language: str | None = None) -> Turn:
    """One turn redacted on its own; `counts` gains one per span found."""
    spans = find_personal_data(turn.text, language)
    counts.update(kind for _, _, kind in spans)
    return _apply(turn, spans, language)


# Halves of a number said in two turns of one speaker are joined when at most this many turns of
# others, each a short interjection ("mhm", "uh huh, go on"), come between, within this pause.
MAX_INTERJECTIONS = 2
MAX_INTERJECTION_WORDS = 4
MAX_JOIN_PAUSE_S = 10.0


def _interjection(turn: Turn) -> bool:
    return len(turn.text.split()) <= MAX_INTERJECTION_WORDS and not any(ch.isdigit() for ch in turn.text)


def _chains(turns: list[Turn]) -> list[list[int]]:
    """Turn indices grouped into one speaker's consecutive speech, read as one text."""
    chains: list[list[int]] = []
    open_chain: dict[str, list[int]] = {}
    for i, turn in enumerate(turns):
        chain = open_chain.get(turn.speaker)
        if chain is not None:
            j = chain[-1]
            between = turns[j + 1:i]
            if not (len(between) <= MAX_INTERJECTIONS and all(_interjection(t) for t in between)
                    and turn.start - turns[j].end <= MAX_JOIN_PAUSE_S):
                chain = None
        if chain is None:
            chain = []
            chains.append(chain)
            open_chain[turn.speaker] = chain
        chain.append(i)
    return chains


_EDGE = " \t\n,.;:!?-–—…"


def redact(transcript: Transcript) -> tuple[Transcript, dict[str, int]]:
    """The transcript with personal data replaced, and how many of each kind were found.

    Each speaker's consecutive turns are searched as one text, so a number said in two turns
    (or across the other party's "mhm") is found; each turn gets a placeholder for its part.
    """
    counts: Counter = Counter()
    turns = list(transcript.turns)
    language = transcript.language
    for chain in _chains(turns):
        offsets, pos = [], 0
        for i in chain:
            offsets.append(pos)
            pos += len(turns[i].text) + 1
        joined = " ".join(turns[i].text for i in chain)
        spans = find_personal_data(joined, language)
        counts.update(kind for _, _, kind in spans)
        for i, offset in zip(chain, offsets):
            text, local = turns[i].text, []
            for start, end, kind in spans:
                s, e = max(start - offset, 0), min(end - offset, len(text))
                if s >= e:
                    continue
                if start < offset:           # a part continued from an earlier turn
                    s += len(text[s:e]) - len(text[s:e].lstrip(_EDGE))
                if end > offset + len(text):  # a part continued in a later turn
                    e -= len(text[s:e]) - len(text[s:e].rstrip(_EDGE))
                if s < e:
                    local.append((s, e, kind))
            turns[i] = _apply(turns[i], local, language)
    return replace(transcript, turns=turns), dict(counts)
