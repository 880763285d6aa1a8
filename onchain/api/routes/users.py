"""The caller's own account: profile, preferences, usage, and erase (`DELETE /v2/users/me`).

Only ever "me": no route takes a user id, so no user can name another.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from onchain.accounts.deps import AccountsDep, Caller, CurrentUser, RateDecision
from onchain.api.errors import ApiError

router = APIRouter(tags=["users"])

MAX_PREFERENCES_BYTES = 16 << 10


class TierOut(BaseModel):
    tier: str
    requestsPerMinute: int
    websocketConnections: int
    alerts: int
    apiKeys: int
    alertChannels: int = Field(description="distinct channels one alert rule may have")
    alertConditions: int = Field(description="conditions one alert rule may combine with all/any")
    features: list[str]


class UserOut(BaseModel):
    id: str
    name: str | None
    via: str = Field(description="how this request authenticated: api_key or jwt")
    limits: TierOut


class BucketOut(BaseModel):
    limit: int
    remaining: int
    resetSeconds: int


class CountOut(BaseModel):
    limit: int | None = Field(description="null: no cap")
    used: int


class UsageOut(BaseModel):
    authenticated: bool
    limits: TierOut
    requests: BucketOut
    websocketConnections: CountOut
    alerts: CountOut | None = Field(description="null for anonymous callers, who own no alerts")


class ErasedOut(BaseModel):
    erased: bool
    keys: int
    alerts: int
    preferences: int


class PreferencesOut(BaseModel):
    preferences: dict[str, Any]


@router.get("/v2/users/me")
async def me(principal: CurrentUser, accounts: AccountsDep) -> UserOut:
    """Who the credentials belong to, and the limits of their tier."""
    assert principal.user_id is not None
    stored = await accounts.store.user(principal.user_id)
    return UserOut(
        id=principal.user_id,
        name=stored.name if stored is not None else None,
        via=principal.via,
        limits=TierOut(**principal.tier.to_json()),
    )


@router.delete("/v2/users/me")
async def erase_me(principal: CurrentUser, accounts: AccountsDep) -> ErasedOut:
    """Erase the caller: keys, alerts with their deliveries, preferences; open WebSockets are closed.
    Only the fact and the counts go to the audit log."""
    assert principal.user_id is not None
    erased = await accounts.erase(principal.user_id)
    return ErasedOut(erased=True, keys=erased.keys, alerts=erased.alerts, preferences=erased.preferences)


@router.get("/v2/users/me/preferences")
async def get_preferences(principal: CurrentUser, accounts: AccountsDep) -> PreferencesOut:
    assert principal.user_id is not None
    return PreferencesOut(preferences=await accounts.store.preferences(principal.user_id))


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferences: dict[str, Any]


@router.put("/v2/users/me/preferences")
async def put_preferences(
    body: Annotated[PreferencesIn, Body(examples=[{"preferences": {"alertEmail": "me@example.com"}}])],
    principal: CurrentUser,
    accounts: AccountsDep,
) -> PreferencesOut:
    """Replace the caller's preferences document (a JSON object of at most 16 KiB)."""
    try:
        encoded = orjson.dumps(body.preferences)
    except orjson.JSONEncodeError as exc:  # integers beyond 64 bits, nesting deeper than 254 levels
        raise ApiError.bad_request(f"preferences cannot be stored: {exc}") from exc
    if len(encoded) > MAX_PREFERENCES_BYTES:
        raise ApiError.bad_request(f"preferences are limited to {MAX_PREFERENCES_BYTES} bytes of JSON")
    user = await accounts.user_for(principal)
    await accounts.store.set_preferences(user.id, body.preferences, accounts.clock())
    return PreferencesOut(preferences=body.preferences)


@router.get("/v2/usage")
async def usage(principal: Caller, accounts: AccountsDep, decision: RateDecision) -> UsageOut:
    """What the caller has left: request budget (after this request), WebSocket slots, alerts."""
    tier = principal.tier
    if decision is None:
        bucket = BucketOut(limit=tier.requests_per_minute, remaining=tier.requests_per_minute, resetSeconds=0)
    else:
        bucket = BucketOut(
            limit=decision.limit, remaining=decision.remaining, resetSeconds=math.ceil(decision.reset_after)
        )
    alerts = None
    if principal.user_id is not None:
        alerts = CountOut(limit=tier.alerts, used=await accounts.active_alert_count(principal.user_id))
    return UsageOut(
        authenticated=principal.authenticated,
        limits=TierOut(**tier.to_json()),
        requests=bucket,
        websocketConnections=CountOut(
            limit=accounts.connection_limit(principal), used=await accounts.connection_count(principal)
        ),
        alerts=alerts,
    )
