"""Market reads: protocols, pools, realtime TVL, volumes and prices, served from the market service.

Every figure comes from `app.state.market` (the live `MarketService`); only block-resolution time
series are read from `protocol_metrics`. USD figures are numbers; ids are validated before lookup,
so a malformed id is a 422 with a code and an unknown one a 404.
"""

from __future__ import annotations

import re
import weakref
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from onchain.api.errors import ApiError, echo
from onchain.domain.chain import MAX_TIMESTAMP
from onchain.domain.ids import split_coin_id
from onchain.metrics.series import read_points
from onchain.metrics.service import MarketService
from onchain.metrics.state import MarketState

router = APIRouter(tags=["market"])

SLUG = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
INTERVALS = {"1h": 3_600, "4h": 14_400, "1d": 86_400}
MAX_COINS = 500


def get_market(request: Request) -> MarketService:
    market: MarketService | None = getattr(request.app.state, "market", None)
    if market is None:
        raise ApiError(503, "market_unavailable", "the market service is not running in this process")
    return market


async def market_dependency(request: Request) -> MarketService:
    """`get_market` as an async dependency: a plain `def` one would cost a thread-pool hop per request."""
    return get_market(request)


MarketDep = Annotated[MarketService, Depends(market_dependency)]

# Serialized `/v2/realtime/prices` answers per state, valid while the state's version (bumped when a
# block is applied or a token added) is unchanged; keyed by the raw `coins` query, bounded in count.
PRICES_CACHE_ENTRIES = 256
_prices_cache: weakref.WeakKeyDictionary[MarketState, tuple[int, dict[str | None, bytes]]] = (
    weakref.WeakKeyDictionary()
)


def _unprocessable(code: str, message: str) -> ApiError:
    return ApiError(422, code, message)


def _id(value: str, what: str) -> str:
    try:
        chain, address = split_coin_id(value)
    except ValueError as exc:
        message = f"{what} id must look like chain:0x<40 hex>, got {echo(value)}"
        raise _unprocessable(f"invalid_{what}_id", message) from exc
    return f"{chain}:{address}"


def _slug(state: MarketState, slug: str) -> str:
    if not SLUG.match(slug):
        message = f"protocol slug must be lower-case letters, digits and dashes: {echo(slug)}"
        raise _unprocessable("invalid_slug", message)
    if slug not in state.protocols:
        raise ApiError.not_found(f"no protocol {echo(slug)}", "protocol_not_found")
    return slug


def _price_entry(state: MarketState, coin: str) -> dict[str, Any] | None:
    price = state.prices.get(coin)
    if price is None:
        return None
    token = state.tokens.get(coin)
    return {
        "price": price.price_usd,
        "symbol": token.symbol if token else None,
        "decimals": token.decimals if token else None,
        "timestamp": price.timestamp,
        "confidence": price.confidence,
        "source": price.source,
        "sources": list(price.sources),
        "block": price.block,
        "stale": price.stale,
    }


@router.get("/v2/protocols")
async def list_protocols(market: MarketDep) -> dict[str, Any]:
    """Every protocol with activity (a pool with events, a lending reserve) and its TVL (per chain too),
    24 h volume and fees, and change24h; protocols known but idle on every chain are no $0 rows here."""
    state = market.state
    return {"protocols": [state.protocol_summary(slug) for slug in state.protocol_slugs()]}


@router.get("/v2/protocols/{slug}")
async def get_protocol(market: MarketDep, slug: str) -> dict[str, Any]:
    """One protocol's summary and the ids of its pools seen in events."""
    state = market.state
    summary = state.protocol_summary(_slug(state, slug))
    summary["pools"] = sorted(pool_id for pool_id, pool in state.pools.items()
                              if pool.spec.protocol == slug and pool.updated)
    return summary


@router.get("/v2/protocols/{slug}/metrics")
async def protocol_metrics(
    market: MarketDep,
    slug: str,
    metric: Annotated[Literal["tvl", "volume", "fees"], Query()] = "tvl",
    start: Annotated[int | None, Query(ge=0, le=MAX_TIMESTAMP, description="unix seconds, inclusive")] = None,
    end: Annotated[int | None, Query(ge=0, le=MAX_TIMESTAMP, description="unix seconds, inclusive")] = None,
    interval: Annotated[Literal["block", "1h", "4h", "1d"], Query()] = "1h",
) -> dict[str, Any]:
    """A protocol's time series in chain time: TVL levels, volume and fee sums per bucket (or per block)."""
    state = market.state
    _slug(state, slug)
    if start is not None and end is not None and start > end:
        raise _unprocessable("invalid_range", "start must not be after end")
    if interval == "block":
        if market.store is None:
            raise ApiError(503, "store_unavailable", "block series need the database")
        rows = await read_points(market.store, slug, metric, "block", start, end)
        points = [{"timestamp": ts, "chain": chain, "value": value} for ts, chain, value in rows]
    else:
        points = state.series(slug, metric, start, end, INTERVALS[interval])
    return {"protocol": slug, "metric": metric, "interval": interval, "points": points}


@router.get("/v2/pools")
async def list_pools(
    market: MarketDep,
    protocol: Annotated[str | None, Query(description="protocol slug")] = None,
    chain: Annotated[str | None, Query(description="chain name")] = None,
) -> dict[str, Any]:
    """Pools seen in events, optionally of one protocol and/or chain."""
    state = market.state
    views = []
    for pool_id, pool in sorted(state.pools.items()):
        if not pool.updated:  # a directory pool with no event yet has nothing to show
            continue
        if (protocol is None or pool.spec.protocol == protocol) and (chain is None or pool.spec.chain == chain):
            view = state.pool_view(pool_id)
            if view is not None:
                views.append(view)
    return {"pools": views}


@router.get("/v2/pools/{pool_id}")
async def get_pool(market: MarketDep, pool_id: Annotated[str, Path(description="chain:0xaddress")]) -> dict[str, Any]:
    """One pool: tokens, reserves (whole tokens), TVL, 24 h volume and fees in USD, as of `block`."""
    key = _id(pool_id, "pool")
    view = market.state.pool_view(key)
    if view is None:
        raise ApiError.not_found(f"no pool {key}", "pool_not_found")
    return view


@router.get("/v2/realtime/tvl")
async def realtime_tvl(market: MarketDep) -> dict[str, Any]:
    """TVL per protocol now, with per-chain TVL, borrowed beside lending TVL, and change24h."""
    state = market.state
    out = {}
    for slug in state.protocol_slugs():
        summary = state.protocol_summary(slug)
        out[slug] = {key: summary[key] for key in
                     ("tvl", "chainTvls", "borrowed", "chainBorrowed", "change24h", "block", "timestamp")}
    return {"protocols": out}


@router.get("/v2/realtime/volumes")
async def realtime_volumes(market: MarketDep) -> dict[str, Any]:
    """24 h rolling volume and fees per protocol, in chain time."""
    state = market.state
    out = {}
    for slug in state.protocol_slugs():
        summary = state.protocol_summary(slug)
        out[slug] = {"volume24h": summary["volume24h"], "fees24h": summary["fees24h"],
                     "change24h": summary["volumeChange24h"], "block": summary["block"],
                     "timestamp": summary["timestamp"]}
    return {"protocols": out}


@router.get("/v2/realtime/prices", response_model=dict[str, Any])
async def realtime_prices(
    market: MarketDep,
    coins: Annotated[str | None, Query(description="comma-separated coin ids chain:0xaddress; none: all")] = None,
) -> Response:
    """USD prices in the shape of DefiLlama's coins `/prices/current`; unknown coins are left out."""
    state = market.state
    held = _prices_cache.get(state)
    if held is None or held[0] != state.version:
        held = (state.version, {})
        _prices_cache[state] = held
    body = held[1].get(coins)
    if body is None:
        body = orjson.dumps(_prices(state, coins), option=orjson.OPT_NON_STR_KEYS)
        if len(held[1]) < PRICES_CACHE_ENTRIES:
            held[1][coins] = body
    return Response(body, media_type="application/json")


def _prices(state: MarketState, coins: str | None) -> dict[str, Any]:
    if coins is None:
        wanted = sorted(state.prices)
    else:
        parts = [part.strip() for part in coins.split(",") if part.strip()]
        if not parts:
            raise _unprocessable("invalid_coin_id", "coins must list at least one chain:0xaddress id")
        if len(parts) > MAX_COINS:
            raise _unprocessable("too_many_coins", f"at most {MAX_COINS} coins per request")
        wanted = [_id(part, "coin") for part in parts]
    found = {}
    for coin in wanted:
        entry = _price_entry(state, coin)
        if entry is not None:
            found[coin] = entry
    return {"coins": found}
