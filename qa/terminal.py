"""User text (call ids, agent names, file names, reasons) made safe to show on a terminal.

Rich's `escape` only stops markup; a call id holding ESC [2J would still clear the screen, and
one holding ESC ] 0; ... BEL would retitle the window. `printable` shows such characters as
Python-style escapes (\\x1b, \\x07, \\u202e) and leaves letters of every script alone."""
from __future__ import annotations

import unicodedata

# Not control characters, but they reorder or hide what follows on a terminal or in a table.
_INVISIBLE_OR_REORDERING = {
    "\u061c", "\u200e", "\u200f", "\u2028", "\u2029",
    *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)),
}


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _unsafe(char: str, keep: str) -> bool:
    if char in keep:
        return False
    category = unicodedata.category(char)
    # Cc: C0, DEL and C1 (CSI \x9b too); Cs: lone surrogates, which no terminal encoding takes.
    return category in ("Cc", "Cs") or char in _INVISIBLE_OR_REORDERING


def printable(text: object, multiline: bool = False) -> str:
    """`text` with every control character (ESC, BEL, CR, newline, C1 ...) and every bidi
    override written as an escape such as \\x1b, so that printing it cannot move the cursor,
    recolour, retitle or clear the terminal. `multiline` keeps newlines and tabs (whole documents)."""
    text = "" if text is None else str(text)
    keep = "\n\t" if multiline else ""
    if not any(_unsafe(c, keep) for c in text):
        return text
    return "".join(_shown(c) if _unsafe(c, keep) else c for c in text)


__all__ = ["printable"]
