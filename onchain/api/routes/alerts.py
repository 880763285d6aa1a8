"""Alerts: rules owned by the caller, their delivery log, redelivery, and backtests (design.md "Alerts").

Every route needs a user. `current_user` is the one place that says who calls: the user id that
onchain.accounts resolved from the API key or bearer token. Another user's alert is a 404, never a
403, so ids of others' alerts are not revealed.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from onchain.accounts.deps import AlertQuotaUser, CurrentUser
from onchain.accounts.tiers import Tier
from onchain.alerts.backtest import BacktestTooLarge, run_backtest
from onchain.alerts.delivery import check_webhook_url
from onchain.alerts.engine import Evaluator, announce_rule_change
from onchain.alerts.rule_schema import RuleIn, build_rule
from onchain.alerts.store import AlertQuotaError, AlertRecord, AlertStore, UnreadableAlert
from onchain.alerts.targets import RefusedTarget
from onchain.api.deps import BusDep, SettingsDep, StoreDep
from onchain.api.errors import ApiError
from onchain.api.routes.market import get_market
from onchain.errors import UnknownChainError
from onchain.storage.store import Store

router = APIRouter(prefix="/v2/alerts", tags=["alerts"])

_UUID = r"^[0-9a-f-]{36}$"
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z: later times are input mistakes, not chain time


def current_user(principal: CurrentUser) -> str:
    """The caller's user id, as onchain.accounts authenticated it (401 without valid credentials)."""
    assert principal.user_id is not None
    return principal.user_id


UserDep = Annotated[str, Depends(current_user)]
AlertId = Annotated[str, Path(pattern=_UUID, description="the alert's id")]


def get_alert_store(store: StoreDep) -> AlertStore:
    return AlertStore(store.engine)


AlertStoreDep = Annotated[AlertStore, Depends(get_alert_store)]


def _wake(request: Request) -> None:
    service = getattr(request.app.state, "alerts", None)
    if service is not None:
        service.wake()


async def _check(rule: RuleIn, request: Request, store: Store, allow_private: bool) -> None:
    """Checks that need the server: webhook targets, and that the subject's chain and coin are known."""
    for channel in rule.channels:
        url = getattr(channel, "url", None)
        if url is not None:
            try:
                await check_webhook_url(url, allow_private)
            except RefusedTarget as exc:
                raise ApiError(422, "webhook_refused", str(exc)) from exc
    subject = rule.subject
    chain = subject.id if subject.type == "chain" else subject.id.split(":", 1)[0] if ":" in subject.id else None
    if chain is not None:
        try:
            request.app.state.chains.get(chain)
        except UnknownChainError as exc:
            known = await store.heads()
            if chain not in known:
                raise ApiError(422, "unknown_chain", f"unknown chain {chain!r} in subject id {subject.id!r}") from exc
    if subject.type == "coin":
        address = subject.id.split(":", 1)[1]
        market = getattr(request.app.state, "market", None)
        priced = market is not None and subject.id in market.state.prices
        if not priced and await store.token(chain or "", address) is None:
            raise ApiError(422, "unknown_coin", f"no coin {subject.id!r} is known here (no token record, no price)")


def _fits_tier(rule: RuleIn, tier: Tier) -> None:
    """A rule's size within the caller's tier (channels counted after merging duplicates), else 422."""
    sizes = (
        ("distinct channels", len(rule.channels), tier.alert_channels),
        ("conditions", len(rule.conditions()), tier.alert_conditions),
    )
    for what, count, limit in sizes:
        if count > limit:
            message = f"the {tier.name} tier allows {limit} {what} per alert, this rule has {count}"
            raise ApiError(422, "rule_too_large", message)


def _over_quota(tier: Tier, exc: AlertQuotaError) -> ApiError:
    """As the quota dependency answers creation over the limit: 403 `tier_limit`."""
    return ApiError(403, "tier_limit", f"the {tier.name} tier allows {exc.limit} active alerts")


def _rule_from(body: dict[str, Any]) -> RuleIn:
    try:
        return RuleIn.model_validate(body)
    except ValidationError as exc:
        parts = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()))
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
        raise ApiError(422, "invalid_rule", "; ".join(parts) or "invalid rule") from exc


RULE_EXAMPLE = {
    "name": "WETH under 1800",
    "subject": {"type": "coin", "id": "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"},
    "condition": "price_below",
    "threshold": 1800,
    "cooldown": "1h",
    "channels": [{"type": "webhook", "url": "https://example.com/hook"}, {"type": "websocket"}],
}
RuleBody = Annotated[dict[str, Any], Body(examples=[RULE_EXAMPLE])]


@router.post("", status_code=201)
async def create_alert(
    body: RuleBody,
    request: Request,
    user: UserDep,
    principal: AlertQuotaUser,
    alerts: AlertStoreDep,
    store: StoreDep,
    bus: BusDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Create a rule; the answer carries `webhookSecret`, shown this once, to verify webhook signatures."""
    rule = _rule_from(body)
    _fits_tier(rule, principal.tier)
    await _check(rule, request, store, settings.webhook_allow_private)
    try:
        alert = await alerts.create_alert(user, rule, time.time(), principal.tier.alerts)
    except AlertQuotaError as exc:
        raise _over_quota(principal.tier, exc) from exc
    await announce_rule_change(bus, "upsert", alert.id)
    return {**alert.to_json(), "webhookSecret": alert.webhook_secret}


@router.get("")
async def list_alerts(user: UserDep, alerts: AlertStoreDep) -> dict[str, Any]:
    return {"alerts": [alert.to_json() for alert in await alerts.list_alerts(user)]}


async def _owned(alerts: AlertStore, alert_id: str, user: str) -> AlertRecord | UnreadableAlert:
    alert = await alerts.get_alert(alert_id, user)
    if alert is None:
        raise ApiError.not_found(f"no alert {alert_id}", "alert_not_found")
    return alert


@router.get("/{alert_id}")
async def get_alert(alert_id: AlertId, user: UserDep, alerts: AlertStoreDep) -> dict[str, Any]:
    return (await _owned(alerts, alert_id, user)).to_json()


@router.put("/{alert_id}")
async def replace_alert(
    alert_id: AlertId,
    body: RuleBody,
    request: Request,
    user: UserDep,
    principal: CurrentUser,
    alerts: AlertStoreDep,
    store: StoreDep,
    bus: BusDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Replace a rule (its webhook secret stays); the engine picks the change up at once. Turning an
    inactive rule active needs room in the tier's active alerts, as creating one does."""
    await _owned(alerts, alert_id, user)
    rule = _rule_from(body)
    _fits_tier(rule, principal.tier)
    await _check(rule, request, store, settings.webhook_allow_private)
    try:
        updated = await alerts.update_alert(alert_id, user, rule, time.time(), principal.tier.alerts)
    except AlertQuotaError as exc:
        raise _over_quota(principal.tier, exc) from exc
    if updated is None:
        raise ApiError.not_found(f"no alert {alert_id}", "alert_not_found")
    await announce_rule_change(bus, "upsert", alert_id)
    return updated.to_json()


@router.delete("/{alert_id}", status_code=204)
async def delete_alert(alert_id: AlertId, user: UserDep, alerts: AlertStoreDep, bus: BusDep) -> Response:
    if not await alerts.delete_alert(alert_id, user):
        raise ApiError.not_found(f"no alert {alert_id}", "alert_not_found")
    await announce_rule_change(bus, "delete", alert_id)
    return Response(status_code=204)


@router.get("/{alert_id}/deliveries")
async def list_deliveries(
    alert_id: AlertId,
    user: UserDep,
    alerts: AlertStoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Every delivery of the alert's firings, newest first, each with all its attempts."""
    await _owned(alerts, alert_id, user)
    return {"deliveries": await alerts.deliveries(alert_id, user, limit)}


@router.post("/{alert_id}/deliveries/{delivery_id}/redeliver", status_code=202)
async def redeliver(
    alert_id: AlertId,
    delivery_id: Annotated[str, Path(pattern=_UUID)],
    request: Request,
    user: UserDep,
    alerts: AlertStoreDep,
) -> dict[str, Any]:
    """Send a delivery again, as a new delivery (new idempotency id) of the same firing."""
    await _owned(alerts, alert_id, user)
    new_id = await alerts.redeliver(alert_id, user, delivery_id, time.time())
    if new_id is None:
        raise ApiError.not_found(f"no delivery {delivery_id} for alert {alert_id}", "delivery_not_found")
    _wake(request)
    return {"id": new_id, "redeliveryOf": delivery_id, "status": "pending"}


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    rule: dict[str, Any]
    from_timestamp: int | None = Field(
        default=None, alias="from", ge=0, le=MAX_TIMESTAMP, description="chain time, unix seconds"
    )
    to_timestamp: int | None = Field(
        default=None, alias="to", ge=0, le=MAX_TIMESTAMP, description="chain time, unix seconds"
    )


@router.post("/backtest")
async def backtest(body: BacktestIn, request: Request, principal: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """When the rule would have fired over the stored history (channels are not needed and not used)."""
    rule_body = {"name": "backtest", **body.rule}
    rule_body.setdefault("channels", [{"type": "websocket"}])
    rule_in = _rule_from(rule_body)
    _fits_tier(rule_in, principal.tier)
    rule = build_rule("backtest", rule_in)
    market = get_market(request)
    runtime = request.app.state.runtime
    evaluator = Evaluator(getattr(runtime, "tokens", None))
    try:
        analytics = getattr(request.app.state, "analytics", None)
        result = await run_backtest(
            rule, store, market, evaluator, from_timestamp=body.from_timestamp, to_timestamp=body.to_timestamp,
            anomalies=analytics.detector.config if analytics is not None else None,
        )
    except BacktestTooLarge as exc:
        raise ApiError(422, "backtest_too_large", str(exc)) from exc
    return result.to_json()
