"""Text that listeners see (titles): one normal form, trimmed, with nothing invisible that could spoof it."""

from __future__ import annotations

import unicodedata

# Control (NUL, newlines), format (bidi overrides such as U+202E, zero-width spaces) and lone surrogates
# (which no UTF-8 store accepts), and line or paragraph separators: a title is one visible line.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# The joiners are format characters that real text needs between two visible characters: Persian words
# (ZWNJ) and emoji sequences such as U+1F468 U+200D U+1F4BB (ZWJ).
_JOINERS = frozenset({"\u200c", "\u200d"})


def display_text(text: str) -> str:
    """`text` in NFC without surrounding whitespace; ValueError if it is blank or holds an invisible character."""
    clean = unicodedata.normalize("NFC", text).strip()
    if not clean:
        raise ValueError("must have visible text, not only whitespace")
    for index, char in enumerate(clean):
        if unicodedata.category(char) not in _REFUSED:
            continue
        if char in _JOINERS and _visible(clean, index - 1) and _visible(clean, index + 1):
            continue
        raise ValueError(f"must not contain control or invisible formatting characters (found U+{ord(char):04X})")
    return clean


def _visible(text: str, index: int) -> bool:
    if not 0 <= index < len(text):
        return False
    char = text[index]
    return not char.isspace() and unicodedata.category(char) not in _REFUSED
