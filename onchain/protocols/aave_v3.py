"""Aave V3 Pool events: Supply, Withdraw, Borrow, Repay, LiquidationCall.

Aave V2 emits Withdraw and LiquidationCall with the same signatures, so only the V3 Pool contracts
listed here are decoded; each of them is Aave V3's by construction.
"""

from __future__ import annotations

from typing import Any

from onchain.protocols.abi import topic_address, topic_uint, word_address, word_bool, word_uint
from onchain.protocols.base import Attribution, EventSpec

FAMILY = "aave_v3"
PROTOCOL = "aave-v3"
SUPPLY = "0x2b627736bca15cd5381dcf80b0bf11fd197d01a037c52b927a881a10fb73ba61"
WITHDRAW = "0x3115d1449a7b732c986cba18244e897a450f61e1bb8d589cd2e69e6c8924f9f7"
BORROW = "0xb3d084820fb1a9decffb176436bd02558d15fac9b0ddfed8c465bc7359d7dce0"
REPAY = "0xa534c8dbe71f871f9f3530e97a74601fea17b426cae02e1c5aee42c96c784051"
LIQUIDATION_CALL = "0xe413a321e8681d831f4dbccbca790d2952b56f977908e45be37335533e005286"

_SHARED_POOL = frozenset({"0x794a61358d6845594f94dc1db02a252b5b4814ad"})

#: The Pool proxy per chain (the contract that emits every event of the market).
POOLS: dict[str, frozenset[str]] = {
    "ethereum": frozenset({"0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2"}),
    "polygon": _SHARED_POOL,
    "arbitrum": _SHARED_POOL,
    "optimism": _SHARED_POOL,
    "avax": _SHARED_POOL,
    "base": frozenset({"0xa238dd80c259a72e81d7e4664a9801593f98d1c5"}),
}


def _event(name: str, inputs: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "type": "event",
        "name": name,
        "anonymous": False,
        "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs],
    }


ABI: list[dict[str, Any]] = [
    _event(
        "Supply",
        [
            ("reserve", "address", True),
            ("user", "address", False),
            ("onBehalfOf", "address", True),
            ("amount", "uint256", False),
            ("referralCode", "uint16", True),
        ],
    ),
    _event(
        "Withdraw",
        [
            ("reserve", "address", True),
            ("user", "address", True),
            ("to", "address", True),
            ("amount", "uint256", False),
        ],
    ),
    _event(
        "Borrow",
        [
            ("reserve", "address", True),
            ("user", "address", False),
            ("onBehalfOf", "address", True),
            ("amount", "uint256", False),
            ("interestRateMode", "uint8", False),
            ("borrowRate", "uint256", False),
            ("referralCode", "uint16", True),
        ],
    ),
    _event(
        "Repay",
        [
            ("reserve", "address", True),
            ("user", "address", True),
            ("repayer", "address", True),
            ("amount", "uint256", False),
            ("useATokens", "bool", False),
        ],
    ),
    _event(
        "LiquidationCall",
        [
            ("collateralAsset", "address", True),
            ("debtAsset", "address", True),
            ("user", "address", True),
            ("debtToCover", "uint256", False),
            ("liquidatedCollateralAmount", "uint256", False),
            ("liquidator", "address", False),
            ("receiveAToken", "bool", False),
        ],
    ),
]


def decode_supply(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "reserve": topic_address(topics[1]),
        "user": word_address(data, 0),
        "onBehalfOf": topic_address(topics[2]),
        "amount": word_uint(data, 1),
        "referralCode": topic_uint(topics[3], 16),
    }


def decode_withdraw(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "reserve": topic_address(topics[1]),
        "user": topic_address(topics[2]),
        "to": topic_address(topics[3]),
        "amount": word_uint(data, 0),
    }


def decode_borrow(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "reserve": topic_address(topics[1]),
        "user": word_address(data, 0),
        "onBehalfOf": topic_address(topics[2]),
        "amount": word_uint(data, 1),
        "interestRateMode": word_uint(data, 2, 8),
        "borrowRate": word_uint(data, 3),
        "referralCode": topic_uint(topics[3], 16),
    }


def decode_repay(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "reserve": topic_address(topics[1]),
        "user": topic_address(topics[2]),
        "repayer": topic_address(topics[3]),
        "amount": word_uint(data, 0),
        "useATokens": word_bool(data, 1),
    }


def decode_liquidation_call(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {
        "collateralAsset": topic_address(topics[1]),
        "debtAsset": topic_address(topics[2]),
        "user": topic_address(topics[3]),
        "debtToCover": word_uint(data, 0),
        "liquidatedCollateralAmount": word_uint(data, 1),
        "liquidator": word_address(data, 2),
        "receiveAToken": word_bool(data, 3),
    }


def _spec(topic0: str, name: str, data_size: int, decode: Any) -> EventSpec:
    return EventSpec(
        topic0, FAMILY, name, 4, data_size, decode, Attribution.FIXED, PROTOCOL, contracts=POOLS, only_contracts=True
    )


SPECS: tuple[EventSpec, ...] = (
    _spec(SUPPLY, "Supply", 64, decode_supply),
    _spec(WITHDRAW, "Withdraw", 32, decode_withdraw),
    _spec(BORROW, "Borrow", 128, decode_borrow),
    _spec(REPAY, "Repay", 64, decode_repay),
    _spec(LIQUIDATION_CALL, "LiquidationCall", 128, decode_liquidation_call),
)
