"""Names as people's files carry them: what makes two names the same, and how to show one truthfully.

A folder name can hold characters nobody sees: a zero-width space, a right-to-left override, a
terminal's escape codes. Two such names print identically yet are different folders, and a name
printed raw to a terminal can clear the screen or fake a line of output. Names are compared without
those characters and shown with them spelled out.
"""
from __future__ import annotations

import unicodedata

_UNSEEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Control characters (escape codes, NUL), format characters (zero-width spaces, direction overrides)
and line or paragraph separators: none of them draws anything a person could read."""


def is_unseen(character: str) -> bool:
    return unicodedata.category(character) in _UNSEEN_CATEGORIES


def is_odd_space(character: str) -> bool:
    """A space other than the plain one (a non-breaking space, a thin space): drawn the same, not the same."""
    return character != " " and unicodedata.category(character) == "Zs"


def comparable(name: str) -> str:
    """The form two names share when people would take them for one name.

    Compatibility forms become their plain letters (NFKC: a non-breaking space a space, a full-width
    letter its letter), unseen characters are dropped, runs of spaces count as one, and surrounding
    spaces and trailing dots go (Windows drops those from a folder's name itself); capitals do not
    count. Empty when the name has nothing else.
    """
    name = unicodedata.normalize("NFKC", name)
    seen = "".join(" " if is_odd_space(character) else character
                   for character in name if not is_unseen(character))
    return " ".join(seen.split()).rstrip(". ").strip().casefold()


def escaped(text: str, keep: str = "") -> str:
    """The text with every unseen character and odd space spelled out ("\\x1b", "\\u200b", "\\xa0"), the
    characters in ``keep`` aside (a line break in a message of several lines)."""
    return "".join(_spelled(character) if (is_unseen(character) or is_odd_space(character))
                   and character not in keep else character for character in text)


def shown(name: str) -> str:
    """A name in quotes as a person should read it: unseen characters spelled out, and a name that is
    only spaces or dots visibly so."""
    return f"'{escaped(name)}'"


def _spelled(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
