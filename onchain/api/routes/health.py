"""`GET /health` (each dependency and each chain's head and lag) and `GET /metrics` (Prometheus text).

Status rules: the database down makes the service `unhealthy` (503: it has nothing to serve); any
other dependency failing, a bus subscription not receiving (its topics under `bus.disconnected`), a
live chain lagging, its ingest `stalled` (waiting for the database) or `stopped` (failed), or a chain's
RPC endpoints failing makes it `degraded`. A dependency that is not configured is `disabled` and counts
for nothing. Lag is judged only for chains ingested live (those
with an RPC client); stored history is reported, not judged.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from onchain.api.deps import BusDep, ChainsDep, HubDep, RpcClientsDep, StoreDep, TelemetryDep
from onchain.api.errors import JSONBytesResponse
from onchain.api.telemetry import CONTENT_TYPE
from onchain.errors import StorageError, UnknownChainError
from onchain.storage.records import BlockRecord

router = APIRouter(tags=["health"])

HEALTHY, DEGRADED, UNHEALTHY, DISABLED = "healthy", "degraded", "unhealthy", "disabled"
MIN_LAG_ALLOWED_SECONDS = 60.0
LAG_ALLOWED_BLOCKS = 20


@runtime_checkable
class Pingable(Protocol):
    async def ping(self) -> bool: ...


@runtime_checkable
class ReportsSubscriptions(Protocol):
    def disconnected_topics(self) -> list[str]: ...


@runtime_checkable
class ReportsIngest(Protocol):
    def ingest_states(self) -> dict[str, str]: ...


def _lag_limit(chains: ChainsDep, chain: str) -> float:
    try:
        block_time = chains.get(chain).block_time
    except UnknownChainError:
        block_time = None
    return max(MIN_LAG_ALLOWED_SECONDS, (block_time or 12.0) * LAG_ALLOWED_BLOCKS)


def _rpc_state(endpoints: list[dict[str, Any]]) -> str:
    healthy = sum(1 for e in endpoints if e.get("healthy"))
    if not endpoints or healthy == 0:
        return UNHEALTHY
    return HEALTHY if healthy == len(endpoints) else DEGRADED


async def _heads(store: StoreDep, telemetry: TelemetryDep) -> dict[str, BlockRecord] | None:
    try:
        return await telemetry.timed_db("heads", store.heads())
    except StorageError:
        return None


@router.get("/health", responses={503: {"description": "the service cannot serve (database down)"}})
async def health(
    request: Request,
    store: StoreDep,
    bus: BusDep,
    hub: HubDep,
    chains: ChainsDep,
    rpc_clients: RpcClientsDep,
    telemetry: TelemetryDep,
) -> JSONBytesResponse:
    """Each dependency's state, each chain's head and lag; 503 when unhealthy."""
    now = time.time()
    with telemetry.db_timer("ping"):
        database_ok = await store.ping()
    heads = await _heads(store, telemetry) if database_ok else None
    services: dict[str, str] = {"database": HEALTHY if database_ok and heads is not None else UNHEALTHY}
    if isinstance(bus, Pingable):
        services["cache"] = HEALTHY if await bus.ping() else UNHEALTHY
    else:
        services["cache"] = HEALTHY  # in-process bus and cache: up whenever this process is
    services["websocket"] = HEALTHY if request.app.state.feed.running else DEGRADED
    disconnected = bus.disconnected_topics() if isinstance(bus, ReportsSubscriptions) else []
    services["bus"] = DEGRADED if disconnected else HEALTHY

    chain_report: dict[str, dict[str, Any]] = {}
    lagging = False
    for name, head in sorted((heads or {}).items()):
        lag = max(0.0, now - head.timestamp)
        live = name in rpc_clients
        chain_report[name] = {"head": head.number, "hash": head.hash, "timestamp": head.timestamp,
                              "lagSeconds": round(lag, 3), "live": live}
        if live and lag > _lag_limit(chains, name):
            chain_report[name]["status"] = DEGRADED
            lagging = True
    rpc_states = []
    for name, client in sorted(rpc_clients.items()):
        endpoints = client.endpoint_status()
        state = _rpc_state(endpoints)
        rpc_states.append(state)
        entry = chain_report.setdefault(name, {"head": None, "live": True})
        entry["rpc"] = state
        entry["endpoints"] = endpoints
    if not rpc_states:
        services["external_apis"] = DISABLED
    elif all(s == HEALTHY for s in rpc_states):
        services["external_apis"] = HEALTHY
    else:
        services["external_apis"] = UNHEALTHY if all(s == UNHEALTHY for s in rpc_states) else DEGRADED
    runtime = request.app.state.runtime
    ingest_states = runtime.ingest_states() if isinstance(runtime, ReportsIngest) else {}
    for name, state in sorted(ingest_states.items()):
        entry = chain_report.setdefault(name, {"head": None, "live": True})
        entry["ingest"], entry["status"] = state, DEGRADED
    services["ingest"] = DEGRADED if lagging or ingest_states else (HEALTHY if rpc_clients else DISABLED)

    if services["database"] == UNHEALTHY:
        status = UNHEALTHY
    elif any(s not in (HEALTHY, DISABLED) for s in services.values()):
        status = DEGRADED
    else:
        status = HEALTHY
    body = {
        "status": status,
        "services": services,
        "chains": chain_report,
        "websocket": {"connections": hub.connections},
        "bus": {"disconnected": disconnected},
        "uptimeSeconds": round(now - request.app.state.started_at, 3),
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
    }
    for name, entry in chain_report.items():
        if entry.get("head") is not None:
            telemetry.set_chain(name, entry["head"], entry["lagSeconds"])
    return JSONBytesResponse(body, status_code=503 if status == UNHEALTHY else 200)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
async def metrics(store: StoreDep, telemetry: TelemetryDep) -> Response:
    """Prometheus text: WebSocket connections and deliveries, REST and database timings, cache, ingest lag."""
    heads = await _heads(store, telemetry)
    now = time.time()
    for name, head in (heads or {}).items():
        telemetry.set_chain(name, head.number, max(0.0, now - head.timestamp))
    return Response(telemetry.render(), media_type=CONTENT_TYPE)
