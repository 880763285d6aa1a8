"""User names and key labels: printable text only, and a refusal that never repeats the name."""

from __future__ import annotations

import pytest

from onchain.accounts.names import MAX_NAME, InvalidName, check_name, printable


@pytest.mark.parametrize("name", ["alice", "sub:user-7", "Zoë Ünal", "运营 🚀", "x" * MAX_NAME])
def test_printable_names_pass(name: str) -> None:
    assert check_name("--user", name) == name


@pytest.mark.parametrize(
    "name", ["a\nb\x1b[31m", "tab\there", "bell\x07", "rtl\u202egnp.exe", "zero\u200bwidth", "line\u2028sep", "nul\x00"]
)
def test_control_and_invisible_characters_are_refused_without_echoing_them(name: str) -> None:
    with pytest.raises(InvalidName) as refused:
        check_name("--user", name)
    message = str(refused.value)
    assert message.startswith("--user must not contain control or invisible characters (U+")
    assert message.isprintable()


@pytest.mark.parametrize("name", ["", "x" * (MAX_NAME + 1)])
def test_length(name: str) -> None:
    with pytest.raises(InvalidName, match="1 to 64 characters"):
        check_name("--user", name)


def test_printable_escapes_what_check_name_refuses() -> None:
    assert printable("a\nb\x1b[31m\u202e") == "a\\nb\\x1b[31m\\u202e"
    assert printable("Zoë 🚀") == "Zoë 🚀"
