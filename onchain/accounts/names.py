"""Names people choose (user names, key labels) are shown in terminals, tables and logs, so they hold
printable text only: no control characters (newlines, ANSI escape sequences), no invisible format
characters (bidi overrides that reorder what is shown), no line or paragraph separators."""

from __future__ import annotations

import unicodedata

from onchain.errors import InputError

MAX_NAME = 64
# Unicode categories refused: controls, format characters, surrogates, private use, line/paragraph separators.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


class InvalidName(InputError):
    """A name that is empty, too long, or holds characters that are not printable text."""


def check_name(what: str, name: str) -> str:
    """`name` if it is 1 to MAX_NAME printable characters; else InvalidName, whose message never
    repeats the name itself (it is what may not be printed)."""
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidName(f"{what} must be 1 to {MAX_NAME} characters")
    for position, char in enumerate(name, 1):
        if unicodedata.category(char) in _REFUSED:
            raise InvalidName(
                f"{what} must not contain control or invisible characters (U+{ord(char):04X} at position {position})"
            )
    return name


def printable(text: str) -> str:
    """`text` with refused characters written as escapes, for showing names stored before the check."""
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _REFUSED else char
        for char in text
    )
