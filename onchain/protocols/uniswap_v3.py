"""Uniswap V3-style concentrated-liquidity pools: Swap, Mint, Burn and the factory's PoolCreated.

A pool's identity is proven by CREATE2 from the factory, token0, token1 and the fee tier.
"""

from __future__ import annotations

from typing import Any

from onchain.protocols.abi import topic_address, topic_int, topic_uint, word_address, word_int, word_uint
from onchain.protocols.base import Attribution, EventSpec
from onchain.protocols.create2 import Factory

FAMILY = "uniswap_v3"
SWAP = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
MINT = "0x7a53080ba414158be7ec69b987b5fb7d07dee101fe85488f0853ae16239d0bde"
BURN = "0x0c396cd989a39f4459b5fa1aed6a9a8dcdbc45908acfd67e028cd568da98982c"
_INT24_BOUND = 1 << 23

POOL_CREATED = "0x783cca1c0412dd0d695e784568c96da2e9c22ff989357a2e8b1d9b2b4e6b7118"

#: Checked against USDC/WETH 0.05% (0x88e6a0c2...) and 0.3% (0x8ad599c3...) on Ethereum.
FACTORIES: tuple[Factory, ...] = (
    Factory(
        "uniswap-v3",
        FAMILY,
        "ethereum",
        "0x1f98431c8ad98523631ae4a59f267346ea31f984",
        "0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54",
    ),
)


def _event(name: str, inputs: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "type": "event",
        "name": name,
        "anonymous": False,
        "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs],
    }


ABI: list[dict[str, Any]] = [
    _event(
        "Swap",
        [
            ("sender", "address", True),
            ("recipient", "address", True),
            ("amount0", "int256", False),
            ("amount1", "int256", False),
            ("sqrtPriceX96", "uint160", False),
            ("liquidity", "uint128", False),
            ("tick", "int24", False),
        ],
    ),
    _event(
        "Mint",
        [
            ("sender", "address", False),
            ("owner", "address", True),
            ("tickLower", "int24", True),
            ("tickUpper", "int24", True),
            ("amount", "uint128", False),
            ("amount0", "uint256", False),
            ("amount1", "uint256", False),
        ],
    ),
    _event(
        "Burn",
        [
            ("owner", "address", True),
            ("tickLower", "int24", True),
            ("tickUpper", "int24", True),
            ("amount", "uint128", False),
            ("amount0", "uint256", False),
            ("amount1", "uint256", False),
        ],
    ),
    _event(
        "PoolCreated",
        [
            ("token0", "address", True),
            ("token1", "address", True),
            ("fee", "uint24", True),
            ("tickSpacing", "int24", False),
            ("pool", "address", False),
        ],
    ),
]


def decode_swap(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    sqrt_price_x96 = int.from_bytes(data[64:96])
    liquidity = int.from_bytes(data[96:128])
    tick = int.from_bytes(data[128:160], signed=True)
    if sqrt_price_x96 >> 160 or liquidity >> 128 or not -_INT24_BOUND <= tick < _INT24_BOUND:
        raise ValueError("Swap value out of its type's range")
    return {
        "sender": topic_address(topics[1]),
        "recipient": topic_address(topics[2]),
        "amount0": int.from_bytes(data[0:32], signed=True),
        "amount1": int.from_bytes(data[32:64], signed=True),
        "sqrtPriceX96": sqrt_price_x96,
        "liquidity": liquidity,
        "tick": tick,
    }


def decode_mint(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "sender": word_address(data, 0),
        "owner": topic_address(topics[1]),
        "tickLower": topic_int(topics[2], 24),
        "tickUpper": topic_int(topics[3], 24),
        "amount": word_uint(data, 1, 128),
        "amount0": int.from_bytes(data[64:96]),
        "amount1": int.from_bytes(data[96:128]),
    }


def decode_burn(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "owner": topic_address(topics[1]),
        "tickLower": topic_int(topics[2], 24),
        "tickUpper": topic_int(topics[3], 24),
        "amount": word_uint(data, 0, 128),
        "amount0": int.from_bytes(data[32:64]),
        "amount1": int.from_bytes(data[64:96]),
    }


def decode_pool_created(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "token0": topic_address(topics[1]),
        "token1": topic_address(topics[2]),
        "fee": topic_uint(topics[3], 24),
        "tickSpacing": word_int(data, 0, 24),
        "pool": word_address(data, 1),
    }


def created_pool(args: dict[str, Any]) -> tuple[str, str, str, int | None]:
    """(pool, token0, token1, fee) announced by a PoolCreated event."""
    return args["pool"], args["token0"], args["token1"], args["fee"]


SPECS: tuple[EventSpec, ...] = (
    EventSpec(SWAP, FAMILY, "Swap", 3, 160, decode_swap, Attribution.POOL),
    EventSpec(MINT, FAMILY, "Mint", 4, 128, decode_mint, Attribution.POOL),
    EventSpec(BURN, FAMILY, "Burn", 4, 96, decode_burn, Attribution.POOL),
    EventSpec(
        POOL_CREATED, FAMILY, "PoolCreated", 4, 64, decode_pool_created, Attribution.FACTORY, creates_pool=created_pool
    ),
)
