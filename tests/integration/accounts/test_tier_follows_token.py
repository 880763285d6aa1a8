"""The identity provider has the last word on a user's tier: after a token with `tier=free`, the user's
keys and tokens without a tier claim get free too, at once, although a key was made under enterprise."""

from __future__ import annotations

from tests.integration.accounts.conftest import ApiFactory, bearer


async def test_a_downgrade_in_the_token_reaches_keys_and_tierless_tokens(
    api_server: ApiFactory, store_url: str
) -> None:
    async with api_server(url=store_url) as api, api.client() as client:
        created = await client.post("/v2/users/me/keys", json={"name": "k"}, headers=bearer("idp-9", tier="enterprise"))
        assert created.status_code == 201, created.text
        key = {"X-API-Key": created.json()["key"]}
        assert (await client.get("/v2/users/me", headers=key)).json()["limits"]["tier"] == "enterprise"
        assert (await client.get("/v2/analytics/mev", headers=key)).status_code != 403

        downgraded = await client.get("/v2/users/me", headers=bearer("idp-9", tier="free"))
        assert downgraded.json()["limits"]["tier"] == "free"
        for headers in (key, bearer("idp-9")):
            assert (await client.get("/v2/users/me", headers=headers)).json()["limits"]["tier"] == "free"
            gated = await client.get("/v2/analytics/mev", headers=headers)
            assert gated.status_code == 403 and gated.json()["error"]["code"] == "feature_not_in_tier"

        # ... and an upgrade likewise; the audit log records each change, not the token.
        assert (await client.get("/v2/users/me", headers=bearer("idp-9", tier="pro"))).status_code == 200
        assert (await client.get("/v2/users/me", headers=key)).json()["limits"]["tier"] == "pro"
        changes = [e["detail"] for e in await api.accounts.store.audit_entries("idp-9") if e["action"] == "user.tier"]
        assert changes == [{"tier": "free"}, {"tier": "pro"}]
