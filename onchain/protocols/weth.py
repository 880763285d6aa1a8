"""WETH9-style wrapped native coins: Deposit (wrap) and Withdrawal (unwrap).

`Deposit(address,uint256)` is a common signature, so only the wrapped-native contracts below are
decoded. Their `Transfer` is an ordinary ERC-20 Transfer and is decoded by `erc20`.
"""

from __future__ import annotations

from typing import Any

from onchain.protocols.abi import topic_address
from onchain.protocols.base import EventSpec

FAMILY = "weth"
DEPOSIT = "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
WITHDRAWAL = "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"

#: The wrapped native coin per chain (WETH, WMATIC, WBNB, WAVAX, WXDAI), all WETH9 bytecode clones.
WRAPPED_NATIVE: dict[str, frozenset[str]] = {
    "ethereum": frozenset({"0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"}),
    "optimism": frozenset({"0x4200000000000000000000000000000000000006"}),
    "base": frozenset({"0x4200000000000000000000000000000000000006"}),
    "arbitrum": frozenset({"0x82af49447d8a07e3bd95bd0d56f35241523fbab1"}),
    "polygon": frozenset({"0x0d500b1d8e8ef31e21c99d1db9a6444d3adf1270"}),
    "bsc": frozenset({"0xbb4cdb9cbd36b01bd3cbaee1d5a7a5e54b5e0a5c"}),
    "avax": frozenset({"0xb31f66aa3c1e785363f0875a1b74e27b85fd66c7"}),
    "xdai": frozenset({"0xe91d153e0b41518a2ce8dd3d7944fa863463a97d"}),
    # The local anvil devnet: WETH9 is the first contract anvil's first default account deploys.
    "devnet": frozenset({"0x5fbdb2315678afecb367f032d93f642f64180aa3"}),
}

ABI: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": "Deposit",
        "anonymous": False,
        "inputs": [
            {"name": "dst", "type": "address", "indexed": True},
            {"name": "wad", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "Withdrawal",
        "anonymous": False,
        "inputs": [
            {"name": "src", "type": "address", "indexed": True},
            {"name": "wad", "type": "uint256", "indexed": False},
        ],
    },
]


def decode_deposit(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {"dst": topic_address(topics[1]), "wad": int.from_bytes(data)}


def decode_withdrawal(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    return {"src": topic_address(topics[1]), "wad": int.from_bytes(data)}


SPECS: tuple[EventSpec, ...] = (
    EventSpec(DEPOSIT, FAMILY, "Deposit", 2, 32, decode_deposit, contracts=WRAPPED_NATIVE, only_contracts=True),
    EventSpec(
        WITHDRAWAL, FAMILY, "Withdrawal", 2, 32, decode_withdrawal, contracts=WRAPPED_NATIVE, only_contracts=True
    ),
)
