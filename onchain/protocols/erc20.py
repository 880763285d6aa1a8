"""ERC-20 Transfer and Approval (EIP-20): two indexed addresses and a uint256 value in data.

ERC-721 uses the same signatures with the token id indexed (4 topics, no data); those logs are
another standard and are ignored here, not counted as malformed.
"""

from __future__ import annotations

from typing import Any

from onchain.protocols.abi import ADDRESS_PAD
from onchain.protocols.base import EventSpec, IgnoredShape

FAMILY = "erc20"
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
APPROVAL = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"

ABI: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": "Transfer",
        "anonymous": False,
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "Approval",
        "anonymous": False,
        "inputs": [
            {"name": "owner", "type": "address", "indexed": True},
            {"name": "spender", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
]


# The two decoders below inline `abi.topic_address`: they run for most logs of every block.


def decode_transfer(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    source = topics[1]
    target = topics[2]
    if source[2:26] != ADDRESS_PAD or target[2:26] != ADDRESS_PAD or len(source) != 66 or len(target) != 66:
        raise ValueError("Transfer topic is not an address")
    return {"from": "0x" + source[26:], "to": "0x" + target[26:], "value": int.from_bytes(data)}


def decode_approval(topics: tuple[str, ...], data: bytes) -> dict[str, Any]:
    owner = topics[1]
    spender = topics[2]
    if owner[2:26] != ADDRESS_PAD or spender[2:26] != ADDRESS_PAD or len(owner) != 66 or len(spender) != 66:
        raise ValueError("Approval topic is not an address")
    return {"owner": "0x" + owner[26:], "spender": "0x" + spender[26:], "value": int.from_bytes(data)}


SPECS: tuple[EventSpec, ...] = (
    EventSpec(TRANSFER, FAMILY, "Transfer", topic_count=3, data_size=32, decode=decode_transfer),
    EventSpec(APPROVAL, FAMILY, "Approval", topic_count=3, data_size=32, decode=decode_approval),
)

IGNORED: tuple[IgnoredShape, ...] = (
    IgnoredShape(TRANSFER, topic_count=4, data_size=0),
    IgnoredShape(APPROVAL, topic_count=4, data_size=0),
)
