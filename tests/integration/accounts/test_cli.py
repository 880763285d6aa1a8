"""`onchain keys create|list|revoke` on a real SQLite database, and the printed key working on a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from onchain.accounts import keys
from onchain.accounts.tables import users
from onchain.storage.store import Store
from tests.integration.accounts.conftest import ApiFactory

ONCHAIN = str(Path(sys.executable).parent / "onchain")
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def onchain(tmp_path: Path) -> Run:
    """The installed `onchain` command, on a data directory of this test's own."""
    (tmp_path / "none.toml").write_text("")
    env = os.environ | {"ONCHAIN_DATA_DIR": str(tmp_path), "ONCHAIN_CONFIG": str(tmp_path / "none.toml")}
    env.pop("ONCHAIN_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ONCHAIN, *args], env=env, capture_output=True, text=True, timeout=60)

    return run


async def test_create_prints_the_key_once_list_never_shows_it_revoke_stops_it(
    onchain: Run, api_server: ApiFactory, tmp_path: Path
) -> None:
    created = onchain("keys", "create", "--user", "dana", "--tier", "pro")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert keys.is_well_formed(key)

    listed = onchain("keys", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["user"], r["tier"], r["active"]) for r in rows] == [("dana", "pro", True)]
    assert key not in listed.stdout and rows[0]["prefix"] == key[:12]

    async with api_server(url=f"sqlite+aiosqlite:///{tmp_path / 'onchain.db'}") as api:
        async with api.client({"X-API-Key": key}) as client:
            me = await client.get("/v2/users/me")
            assert me.status_code == 200 and me.json()["name"] == "dana" and me.json()["limits"]["tier"] == "pro"
        revoked = onchain("keys", "revoke", rows[0]["id"])
        assert revoked.returncode == 0, revoked.stderr
        api.accounts._cache.clear()  # another process: this server learns within its cache time (5 s)
        async with api.client({"X-API-Key": key}) as client:
            assert (await client.get("/v2/users/me")).status_code == 401


def test_bad_arguments_exit_non_zero_with_one_line(onchain: Run) -> None:
    # One case: each run starts the whole CLI, which takes a few seconds.
    result = onchain("keys", "create", "--user", "eve", "--allow", "10.0.0.0/8")
    assert result.returncode == 1 and result.stdout == "", result
    assert result.stderr.startswith("error: ") and "allowlist" in result.stderr and "Traceback" not in result.stderr


async def test_control_characters_in_names_are_refused_and_never_printed(onchain: Run, tmp_path: Path) -> None:
    refused = onchain("keys", "create", "--user", "a\nb\x1b[31m")
    assert refused.returncode == 1 and refused.stdout == "", refused
    assert refused.stderr.count("\n") == 1 and "\x1b" not in refused.stderr
    assert refused.stderr.startswith("error: --user must not contain control or invisible characters")
    named = onchain("keys", "create", "--user", "mallory", "--name", "ci\x1b]0;pwned\x07")
    assert named.returncode == 1 and named.stderr.startswith("error: --name must not contain control")

    # A name stored before this check (written here past it) is listed escaped, never as raw control codes.
    assert onchain("keys", "create", "--user", "mallory").returncode == 0
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'onchain.db'}")
    try:
        async with store.engine.begin() as connection:
            await connection.execute(update(users).where(users.c.name == "mallory").values(name="m\x1b[31m"))
    finally:
        await store.close()
    listed = onchain("keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\\x1b" in listed.stdout, listed.stdout
