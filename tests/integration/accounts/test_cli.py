"""`onchain keys create|list|revoke` on a real SQLite database, and the printed key working on a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from onchain.accounts import keys
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
