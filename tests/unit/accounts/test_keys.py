"""API key format, the keyed hash, and the pepper file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from onchain.accounts import keys
from onchain.config import Settings
from onchain.errors import ConfigError


def test_keys_are_random_well_formed_and_only_hashed() -> None:
    generated = {keys.generate_key() for _ in range(200)}
    assert len(generated) == 200
    assert all(keys.is_well_formed(k) and len(k) == 47 for k in generated)
    key = next(iter(generated))
    pepper = b"p" * 32
    assert keys.hash_key(pepper, key) == keys.hash_key(pepper, key)
    assert keys.hash_key(pepper, key) != keys.hash_key(b"q" * 32, key)
    assert len(keys.hash_key(pepper, key)) == 64 and key not in keys.hash_key(pepper, key)
    assert keys.display_prefix(key) == key[:12]


@pytest.mark.parametrize(
    "junk", ["", "onk_", "onk_short", "sk_" + "a" * 43, "onk_" + "a" * 42 + "!", "onk_" + "a" * 44, " onk_" + "a" * 43]
)
def test_malformed_keys_are_refused_before_hashing(junk: str) -> None:
    assert not keys.is_well_formed(junk)


def test_pepper_is_generated_once_private_and_stable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = keys.load_pepper(settings)
    assert keys.load_pepper(settings) == first and len(first) >= keys.MIN_PEPPER_CHARS
    path = tmp_path / keys.PEPPER_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [keys.PEPPER_FILE]  # no temporary file left behind
    assert keys.load_pepper(Settings(data_dir=tmp_path, api_key_pepper="x" * 40)) == b"x" * 40
    with pytest.raises(ConfigError):
        keys.load_pepper(Settings(data_dir=tmp_path, api_key_pepper="short"))
