"""Uniswap V2-style constant-product pairs and their factories (forks are factory rows).

Pair events are attributed through the pool directory; PairCreated from a known factory adds a pool
once its address is proven by CREATE2 from the factory, the two tokens and the init code hash.
"""

from __future__ import annotations

from typing import Any

from onchain.protocols.abi import ADDRESS_PAD, topic_address, word_address
from onchain.protocols.base import Attribution, EventSpec
from onchain.protocols.create2 import Factory

FAMILY = "uniswap_v2"
SWAP = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
SYNC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
MINT = "0x4c209b5fc8ad50758f13e2e1088ba56a560dff690a1c6fef26394f4c03821c4f"
BURN = "0xdccd412f0b1252819cb1fd330b93224ca42612892bb3f4f789976e6d81936496"
PAIR_CREATED = "0x0d3648bd0f6ba80134a33ba9275ac585d9d315f0ad8355cddefde31afa28d0e9"

_UINT112_LIMIT = 1 << 112

#: Factories whose init code hash was checked against a known pair of the shipped lists
#: (Uniswap V2 WETH/USDT 0x0d4a11d5..., SushiSwap WETH/USDT 0x06da0fd4...).
FACTORIES: tuple[Factory, ...] = (
    Factory(
        "uniswap-v2",
        FAMILY,
        "ethereum",
        "0x5c69bee701ef814a2b6a3edd4b1652cb9cc5aa6f",
        "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f",
    ),
    Factory(
        "sushiswap",
        FAMILY,
        "ethereum",
        "0xc0aee478e3658e2610c5f7a4a2e1777ce9e4f2ac",
        "0xe18a34eb0e04b04f7a0ac29a6e80748dca96319b42c54d679cb821dca90c6303",
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
            ("amount0In", "uint256", False),
            ("amount1In", "uint256", False),
            ("amount0Out", "uint256", False),
            ("amount1Out", "uint256", False),
            ("to", "address", True),
        ],
    ),
    _event("Sync", [("reserve0", "uint112", False), ("reserve1", "uint112", False)]),
    _event("Mint", [("sender", "address", True), ("amount0", "uint256", False), ("amount1", "uint256", False)]),
    _event(
        "Burn",
        [
            ("sender", "address", True),
            ("amount0", "uint256", False),
            ("amount1", "uint256", False),
            ("to", "address", True),
        ],
    ),
    # The factory leaves the last argument unnamed; we call it allPairsLength, which is what it holds.
    _event(
        "PairCreated",
        [
            ("token0", "address", True),
            ("token1", "address", True),
            ("pair", "address", False),
            ("allPairsLength", "uint256", False),
        ],
    ),
]


def decode_swap(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    sender = topics[1]
    to = topics[2]
    if sender[2:26] != ADDRESS_PAD or to[2:26] != ADDRESS_PAD or len(sender) != 66 or len(to) != 66:
        raise ValueError("Swap topic is not an address")
    from_bytes = int.from_bytes
    return {
        "sender": "0x" + sender[26:],
        "amount0In": from_bytes(data[0:32]),
        "amount1In": from_bytes(data[32:64]),
        "amount0Out": from_bytes(data[64:96]),
        "amount1Out": from_bytes(data[96:128]),
        "to": "0x" + to[26:],
    }


def decode_sync(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    reserve0 = int.from_bytes(data[0:32])
    reserve1 = int.from_bytes(data[32:64])
    if reserve0 >= _UINT112_LIMIT or reserve1 >= _UINT112_LIMIT:
        raise ValueError("Sync reserve exceeds uint112")
    return {"reserve0": reserve0, "reserve1": reserve1}


def decode_mint(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "sender": topic_address(topics[1]),
        "amount0": int.from_bytes(data[0:32]),
        "amount1": int.from_bytes(data[32:64]),
    }


def decode_burn(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "sender": topic_address(topics[1]),
        "amount0": int.from_bytes(data[0:32]),
        "amount1": int.from_bytes(data[32:64]),
        "to": topic_address(topics[2]),
    }


def decode_pair_created(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "token0": topic_address(topics[1]),
        "token1": topic_address(topics[2]),
        "pair": word_address(data, 0),
        "allPairsLength": int.from_bytes(data[32:64]),
    }


def created_pool(args: dict[str, Any]) -> tuple[str, str, str, int | None]:
    """(pool, token0, token1, fee) announced by a PairCreated event."""
    return args["pair"], args["token0"], args["token1"], None


SPECS: tuple[EventSpec, ...] = (
    EventSpec(SWAP, FAMILY, "Swap", 3, 128, decode_swap, Attribution.POOL),
    EventSpec(SYNC, FAMILY, "Sync", 1, 64, decode_sync, Attribution.POOL),
    EventSpec(MINT, FAMILY, "Mint", 2, 64, decode_mint, Attribution.POOL),
    EventSpec(BURN, FAMILY, "Burn", 3, 64, decode_burn, Attribution.POOL),
    EventSpec(
        PAIR_CREATED, FAMILY, "PairCreated", 3, 64, decode_pair_created, Attribution.FACTORY, creates_pool=created_pool
    ),
)
