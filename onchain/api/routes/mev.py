"""MEV findings as stored by the MEV service: `GET /v2/analytics/mev`.

Read from the database, so any API process serves what the ingesting process found. Each row is one
finding in `onchain mev inspect`'s shape plus `chain`, `block`, `timestamp` and `kind`. Amounts are
exact JSON integers of any size (profits routinely exceed 2**64 wei), as `onchain mev inspect` prints.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from onchain.analytics.mev.service import KINDS, FindingKey, read_findings
from onchain.api.deps import StoreDep
from onchain.api.errors import ApiError, echo
from onchain.codec import dumps
from onchain.domain.chain import MAX_BLOCK_NUMBER

router = APIRouter(tags=["analytics"])

CHAIN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# `?kind=` takes a finding kind or the name of its list in `onchain mev inspect` output.
_KIND_NAMES = {**{kind: kind for kind in KINDS}, **{plural: kind for kind, plural in KINDS.items()}}


_PAGE = {"type": "object", "properties": {"findings": {"type": "array", "items": {"type": "object"}},
                                          "next": {"type": ["string", "null"]}}}


@router.get("/v2/analytics/mev", response_class=Response,
            responses={200: {"description": "One page of findings",
                             "content": {"application/json": {"schema": _PAGE}}}})
async def mev_findings(
    store: StoreDep,
    chain: Annotated[str | None, Query(description="chain name; default: every chain")] = None,
    kind: Annotated[str | None, Query(description="sandwich, arbitrage or liquidation; default: all")] = None,
    from_block: Annotated[int | None, Query(ge=0, le=MAX_BLOCK_NUMBER, description="first block, inclusive")] = None,
    to_block: Annotated[int | None, Query(ge=0, le=MAX_BLOCK_NUMBER, description="last block, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="findings per page")] = 100,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
) -> Response:
    """Sandwiches, arbitrages and liquidations found in ingested blocks, oldest block first, one page at a
    time: `{"findings": [...], "next": cursor or null}`; pass `next` back as `cursor` for the following page."""
    if chain is not None and not CHAIN.match(chain):
        raise ApiError(422, "invalid_chain", f"chain must be a lower-case chain name, got {echo(chain)}")
    if kind is not None and kind not in _KIND_NAMES:
        raise ApiError(422, "invalid_kind", f"kind must be one of {sorted(KINDS)}, got {echo(kind)}")
    if from_block is not None and to_block is not None and from_block > to_block:
        raise ApiError(422, "invalid_range", f"from_block {from_block} is above to_block {to_block}")
    after = None
    if cursor is not None:
        try:
            after = FindingKey.parse(cursor)
        except ValueError as exc:
            message = f"cursor must be a `next` value this endpoint returned, got {echo(cursor)}"
            raise ApiError(422, "invalid_cursor", message) from exc
    findings, last = await read_findings(
        store,
        chain=chain,
        kind=None if kind is None else _KIND_NAMES[kind],
        from_block=from_block,
        to_block=to_block,
        after=after,
        limit=limit,
    )
    body = {"findings": findings, "next": None if last is None else str(last)}
    return Response(dumps(body), media_type="application/json")
