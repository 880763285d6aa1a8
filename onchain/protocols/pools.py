"""The shipped pool lists, re-proven by CREATE2 when loaded.

Every row names its factory's protocol; the row is kept only if the factory of that protocol on that
chain deploys exactly that address for its tokens (and fee): a corrupted or hand-edited row is
rejected, never attributed.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from onchain.protocols import uniswap_v2, uniswap_v3
from onchain.protocols.base import PoolInfo
from onchain.protocols.create2 import Factory, pool_address

BUILTIN_FACTORIES: tuple[Factory, ...] = uniswap_v2.FACTORIES + uniswap_v3.FACTORIES


@lru_cache(maxsize=1)
def _shipped_rows() -> tuple[tuple[Any, ...], ...]:
    text = resources.files("onchain.protocols").joinpath("data/pools.json").read_text()
    return tuple(tuple(row) for row in json.loads(text)["pools"])


def prove(pool: PoolInfo, factory: Factory) -> bool:
    """Whether `factory` deploys `pool.address` for the pool's tokens and fee."""
    try:
        return pool_address(factory, pool.token0, pool.token1, pool.fee) == pool.address
    except ValueError:
        return False


@lru_cache(maxsize=32)
def load_shipped_pools(chain: str) -> tuple[tuple[PoolInfo, ...], tuple[PoolInfo, ...]]:
    """(proven, rejected) shipped pools of `chain`."""
    factories = {(f.chain, f.protocol): f for f in BUILTIN_FACTORIES}
    proven: list[PoolInfo] = []
    rejected: list[PoolInfo] = []
    for row_chain, protocol, address, token0, token1, fee in _shipped_rows():
        if row_chain != chain:
            continue
        factory = factories.get((chain, protocol))
        info = PoolInfo(
            address=str(address).lower(),
            chain=chain,
            protocol=str(protocol),
            family=factory.family if factory is not None else "",
            token0=str(token0).lower(),
            token1=str(token1).lower(),
            fee=None if fee is None else int(fee),
            factory=factory.address if factory is not None else "",
        )
        (proven if factory is not None and prove(info, factory) else rejected).append(info)
    return tuple(proven), tuple(rejected)
