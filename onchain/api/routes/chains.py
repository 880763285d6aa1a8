"""`GET /v2/chains`: the chain registry, with the newest block we hold for each chain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from onchain.api.deps import ChainsDep, StoreDep, TelemetryDep
from onchain.storage.records import BlockRecord

router = APIRouter(tags=["chains"])


def _head(record: BlockRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"number": record.number, "hash": record.hash, "timestamp": record.timestamp}


@router.get("/v2/chains")
async def list_chains(chains: ChainsDep, store: StoreDep, telemetry: TelemetryDep) -> dict[str, Any]:
    """Every chain in the registry (RPC URLs redacted), `head` being the newest stored block or null."""
    from onchain.sources.jsonrpc import redact_url  # here: the RPC client module brings httpx, the API needs none

    heads = await telemetry.timed_db("heads", store.heads())
    out = []
    for chain in chains:
        item = chain.to_json()
        item["rpc"] = [redact_url(u) for u in chain.rpc_urls]
        item["ws"] = [redact_url(u) for u in chain.ws_urls]
        item["head"] = _head(heads.pop(chain.slug, None))
        out.append(item)
    # Chains stored under a name the registry does not know still show what we hold.
    out.extend({"slug": name, "name": name, "head": _head(head)} for name, head in sorted(heads.items()))
    return {"chains": out}
