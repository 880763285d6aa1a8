"""No credential in the logs of `onchain serve`: a WebSocket opened with `?api_key=` (which uvicorn logs
with its query), a query `token=` and a bad bearer token leave only `[redacted]` in what the server
printed, at INFO, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from onchain.accounts import keys
from tests.e2e.cli import free_port, onchain

STARTUP_SECONDS = 60


def test_served_logs_never_hold_a_key_or_token(store_url: str, tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("")
    env = {**os.environ, "ONCHAIN_DATABASE_URL": store_url, "ONCHAIN_DATA_DIR": str(tmp_path / "data"),
           "ONCHAIN_REDIS_URL": "", "ONCHAIN_LOG_LEVEL": "info", "ONCHAIN_CONFIG": str(tmp_path / "none.toml"),
           "ONCHAIN_JWT_SECRET": "log-redaction-secret-0123456789abcdef"}
    created = onchain("keys", "create", "--user", "logan", "--tier", "pro", env=env)
    out, err = created.communicate(timeout=120)
    assert created.returncode == 0, err
    key = out.strip()
    guessed = keys.generate_key()
    token = jwt.encode({"sub": "logan-jwt", "aud": "someone-else", "exp": int(time.time()) + 60},
                       "log-redaction-secret-0123456789abcdef", algorithm="HS256")

    port = free_port()
    server = onchain("serve", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "onchain serve did not answer /health"
            time.sleep(0.2)

        async def use_credentials() -> None:
            ws_url = base.replace("http://", "ws://") + "/v2/realtime"
            async with connect(f"{ws_url}?api_key={key}", open_timeout=10) as ws:
                await ws.send('{"type": "ping"}')
                assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
            with pytest.raises(InvalidStatus):  # a guessed key: refused, and logged with its query
                await connect(f"{ws_url}?token={token}&api_key={guessed}", open_timeout=10)
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                refused = await client.get("/v2/users/me", headers={"Authorization": f"Bearer {token}"})
                assert refused.status_code == 401
                assert (await client.get(f"/v2/chains?api_key={key}")).status_code == 200

        asyncio.run(use_credentials())
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, logged = server.communicate(timeout=20)
        except Exception:
            server.kill()
            _, logged = server.communicate()

    assert '"WebSocket /v2/realtime?api_key=[redacted]"' in logged, logged  # the line is there, without the key
    for secret in (key, key[4:], guessed[4:], token, token.split(".")[2]):
        assert secret not in logged, logged
