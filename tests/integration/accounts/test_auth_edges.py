"""Credentials and hardening at the edge of a running server: JWT (valid, expired, wrong audience,
unknown key), feature gates, IP allowlists behind (un)trusted proxies, body and frame size limits."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.accounts.conftest import ApiFactory, bearer


async def test_jwt_valid_expired_wrong_audience(api_server: ApiFactory) -> None:
    async with api_server() as api, api.client() as client:
        ok = await client.get("/v2/users/me", headers=bearer("user-7", tier="pro"))
        assert ok.status_code == 200, ok.text
        assert ok.json()["id"] == "user-7" and ok.json()["via"] == "jwt" and ok.json()["limits"]["tier"] == "pro"
        cases = {
            "token_expired": bearer("user-7", expires_in=-3600),
            "invalid_token": bearer("user-7", audience="someone-else"),
        }
        for code, headers in cases.items():
            refused = await client.get("/v2/users/me", headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == code
            # A bad credential is refused even where no credential is needed.
            assert (await client.get("/v2/chains", headers=headers)).status_code == 401
        forged = bearer("user-7").copy()
        forged["Authorization"] = forged["Authorization"][:-4] + "AAAA"
        assert (await client.get("/v2/users/me", headers=forged)).status_code == 401
        # The subject becomes a user the first time it stores something; the token's tier is used.
        created = await client.post("/v2/users/me/keys", json={"name": "from-jwt"}, headers=bearer("user-7"))
        assert created.status_code == 201
        async with api.client({"X-API-Key": created.json()["key"]}) as by_key:
            assert (await by_key.get("/v2/users/me")).json()["id"] == "user-7"


async def test_bearer_refused_without_jwt_configuration(api_server: ApiFactory) -> None:
    async with api_server(jwt_secret="") as api, api.client(bearer("user-7")) as client:
        refused = await client.get("/v2/users/me")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "jwt_not_configured"


async def test_analytics_needs_pro(api_server: ApiFactory) -> None:
    async with api_server() as api:
        _, free_key = await api.user_key("f", "free")
        _, pro_key = await api.user_key("p", "pro")
        async with api.client() as client:
            path = "/v2/analytics/mev"
            assert (await client.get(path)).status_code == 401
            assert (await client.get(path, headers={"X-API-Key": free_key})).json()["error"]["code"] == (
                "feature_not_in_tier"
            )
            assert (await client.get(path, headers={"X-API-Key": pro_key})).status_code not in (401, 403)


async def test_ip_allowlist_and_trusted_proxies(api_server: ApiFactory) -> None:
    async with api_server() as api:
        _, key = await api.user_key("corp", "enterprise", ("10.0.0.0/8",))
        headers = {"X-API-Key": key, "X-Forwarded-For": "10.1.2.3"}
        async with api.client(headers) as client:
            refused = await client.get("/v2/users/me")  # from 127.0.0.1; the header is not believed
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "ip_not_allowed"
    async with api_server(trusted_proxies=["127.0.0.1/32"]) as api:
        _, key = await api.user_key("corp-behind-proxy", "enterprise", ("10.0.0.0/8",))
        async with api.client({"X-API-Key": key}) as client:
            assert (await client.get("/v2/users/me", headers={"X-Forwarded-For": "10.1.2.3"})).status_code == 200
            outside = await client.get("/v2/users/me", headers={"X-Forwarded-For": "10.1.2.3, 192.0.2.9"})
            assert outside.status_code == 403
            with pytest.raises(InvalidStatus) as ws_refused:
                await connect(api.ws_url, additional_headers={"X-API-Key": key}, open_timeout=10)
            assert ws_refused.value.response.status_code == 403


async def test_body_and_frame_size_limits(api_server: ApiFactory) -> None:
    async with api_server(max_request_bytes=2048, ws_max_frame_bytes=1024) as api:
        _, key = await api.user_key("big", "pro")
        async with api.client({"X-API-Key": key}) as client:
            large = {"preferences": {"blob": "x" * 4096}}
            too_big = await client.put("/v2/users/me/preferences", json=large)
            assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"

            async def chunks() -> httpx.AsyncByteStream:  # type: ignore[misc]
                for _ in range(8):
                    yield b" " * 512

            chunked = await client.put(
                "/v2/users/me/preferences", content=chunks(), headers={"Content-Type": "application/json"}
            )
            assert chunked.status_code == 413
            small = await client.put("/v2/users/me/preferences", json={"preferences": {"a": 1}})
            assert small.status_code == 200
            junk = await client.put("/v2/users/me/preferences", json={"preferences": {"a": 1}, "extra": 2})
            assert junk.status_code == 422
        async with connect(api.ws_url, additional_headers={"X-API-Key": key}, open_timeout=10) as ws:
            await ws.send('{"type": "ping", "pad": "' + "x" * 2000 + '"}')
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
