"""API keys: generation, format check and the keyed hash that is all the database ever holds.

A key is `onk_` followed by 43 URL-safe characters (32 random bytes from the OS CSPRNG), shown to its
owner once. We store HMAC-SHA256(pepper, key).

Why a keyed *fast* hash and not a slow password hash (bcrypt, scrypt, argon2): slow hashes exist to
make guessing low-entropy human passwords expensive. A 256-bit random key cannot be guessed however
fast the hash is, so the slowness would buy nothing and would cost a deliberate delay on every API
request. A fast deterministic hash also lets us find the key by an indexed equality lookup, which a
per-row salt would prevent. The server-side pepper (kept outside the database) means a leaked
database alone does not even let an attacker test candidate keys offline.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from onchain.config import Settings
from onchain.errors import ConfigError

KEY_PREFIX = "onk_"
_KEY_BYTES = 32
_KEY_RE = re.compile(r"^onk_[A-Za-z0-9_-]{43}$")
DISPLAY_CHARS = 12  # `onk_` and the first 8 random characters: enough to tell keys apart in a list
MIN_PEPPER_CHARS = 32
PEPPER_FILE = "api_key_pepper"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def is_well_formed(key: str) -> bool:
    """Cheap syntax check so junk never reaches the hash or the database."""
    return bool(_KEY_RE.match(key))


def hash_key(pepper: bytes, key: str) -> str:
    """The hex HMAC-SHA256 of the key under the server pepper (what `api_keys.key_hash` holds)."""
    return hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_CHARS]


def load_pepper(settings: Settings) -> bytes:
    """`ONCHAIN_API_KEY_PEPPER`, else a random pepper generated once into `data_dir/api_key_pepper` (0600).

    Every process that checks keys against one database must see the same pepper: on one machine the
    shared data directory gives that; across machines, set the variable.
    """
    if settings.api_key_pepper:
        if len(settings.api_key_pepper) < MIN_PEPPER_CHARS:
            raise ConfigError(f"ONCHAIN_API_KEY_PEPPER must be at least {MIN_PEPPER_CHARS} characters")
        return settings.api_key_pepper.encode()
    path = Path(settings.data_dir) / PEPPER_FILE
    try:
        return _read_pepper(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then linked into place: a concurrent reader never sees a half-written file.
    temporary = path.with_name(f".{PEPPER_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(temporary, path)
    except FileExistsError:  # another process got there first; theirs wins
        pass
    finally:
        temporary.unlink()
    return _read_pepper(path)


def _read_pepper(path: Path) -> bytes:
    text = path.read_text().strip()
    if len(text) < MIN_PEPPER_CHARS:
        raise ConfigError(f"{path} holds a pepper shorter than {MIN_PEPPER_CHARS} characters")
    return text.encode()
