"""Analytics reads: smart-money wallets, protocol risk, and one protocol's analytics in one answer.

Everything comes from `app.state.analytics` (the live `AnalyticsService`) and the market service
beside it; every score is returned with the inputs it was made from.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from onchain.analytics import risk as risk_module
from onchain.analytics.service import AnalyticsService, SmartMoneyView
from onchain.api.errors import ApiError, echo
from onchain.domain.ids import normalize_address

router = APIRouter(tags=["analytics"])

SLUG = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
RISK_DESCRIPTION = (
    "A protocol's risk now, 0 (safest) to 100 (riskiest), with every component's measured `value`, its "
    "0-100 `score`, its `weight` and the `details` behind it. The score is the weighted mean of the "
    "components that could be measured (the others have `value` null and carry no weight).\n\n"
    + (risk_module.__doc__ or "").split("\n\n", 1)[-1]
)


def get_analytics(request: Request) -> AnalyticsService:
    analytics: AnalyticsService | None = getattr(request.app.state, "analytics", None)
    if analytics is None:
        raise ApiError(503, "analytics_unavailable", "the analytics service is not running in this process")
    return analytics


AnalyticsDep = Annotated[AnalyticsService, Depends(get_analytics)]


def _slug(analytics: AnalyticsService, slug: str) -> str:
    if not SLUG.match(slug):
        message = f"protocol slug must be lower-case letters, digits and dashes: {echo(slug)}"
        raise ApiError(422, "invalid_slug", message)
    if slug not in analytics.market.state.protocols:
        raise ApiError.not_found(f"no protocol {echo(slug)}", "protocol_not_found")
    return slug


def _view(analytics: AnalyticsService, chain: str | None) -> SmartMoneyView:
    if analytics.model is None:
        raise ApiError(503, "model_unavailable", "no smart-money model is stored; run `onchain analytics train`")
    view = analytics.smart_money(chain)
    if view is None:
        raise ApiError(503, "no_trades", "no trades observed yet" + (f" on {chain}" if chain else ""))
    return view


def _model(view: SmartMoneyView) -> dict[str, Any]:
    model = view.model
    return {"version": model.version, "trainedAt": model.trained_at, "window": model.window,
            "horizon": model.horizon, "metrics": model.metrics.as_dict()}


@router.get("/v2/analytics/smart-money")
async def smart_money(
    analytics: AnalyticsDep,
    chain: Annotated[str | None, Query(description="chain name; default: the chain with the newest block")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Wallets that traded in the newest window, ranked by the model's probability that their next window
    is profitable, each with its features and the three that move its score most (`effect`: how much the
    score drops when that feature is set to its training median)."""
    view = _view(analytics, chain)
    wallets = [dict(score.as_dict(), rank=rank) for rank, score in enumerate(view.wallets[:limit], start=1)]
    return {"chain": view.chain, "fromBlock": view.from_block, "toBlock": view.to_block, "model": _model(view),
            "wallets": wallets}


@router.get("/v2/analytics/smart-money/{address}")
async def smart_money_wallet(
    analytics: AnalyticsDep,
    address: str,
    chain: Annotated[str | None, Query(description="chain name; default: the chain with the newest block")] = None,
) -> dict[str, Any]:
    """One wallet's score, rank, features and top features in the newest window."""
    try:
        wallet = normalize_address(address)
    except ValueError as exc:
        raise ApiError(422, "invalid_address", f"address must be 0x and 40 hex digits, got {echo(address)}") from exc
    view = _view(analytics, chain)
    for rank, score in enumerate(view.wallets, start=1):
        if score.wallet == wallet:
            return {"chain": view.chain, "fromBlock": view.from_block, "toBlock": view.to_block,
                    "model": _model(view), "rank": rank, "wallets": len(view.wallets), **score.as_dict()}
    raise ApiError.not_found(f"{wallet} did not trade in blocks {view.from_block}..{view.to_block}",
                             "wallet_not_found")


@router.get("/v2/analytics/risk/{slug}", description=RISK_DESCRIPTION)
async def protocol_risk(analytics: AnalyticsDep, slug: str) -> dict[str, Any]:
    return analytics.risk(_slug(analytics, slug)).as_dict()


@router.get("/v2/protocols/{slug}/analytics")
async def protocol_analytics(analytics: AnalyticsDep, slug: str) -> dict[str, Any]:
    """Risk (as `/v2/analytics/risk/{slug}`), 24 h volume and fees, MEV findings counted on its pools,
    and its recent anomalies (TVL drops, volume spikes), newest first."""
    slug = _slug(analytics, slug)
    summary = analytics.market.state.protocol_summary(slug)
    return {
        "protocol": slug,
        "risk": analytics.risk(slug).as_dict(),
        "tvl": summary["tvl"],
        "volumes": {"volume24h": summary["volume24h"], "fees24h": summary["fees24h"],
                    "change24h": summary["volumeChange24h"]},
        "mev": dict(analytics.mev.get(slug, {})),
        "anomalies": list(reversed(analytics.protocol_anomalies(slug))),
        "block": summary["block"],
        "timestamp": summary["timestamp"],
    }
