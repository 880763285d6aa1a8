"""Token symbol and decimals read from the chain with `eth_call`, for tokens no shipped list knows.

Tokens answer in three ways: an ABI string (most), a bytes32 (early tokens such as MKR), or a
revert / empty answer (no such function). Only a readable symbol and a decimals value in 0..255
give an answer; anything else is None, never a guess.
"""

from __future__ import annotations

import asyncio

from onchain.errors import MalformedResponseError, NodeError
from onchain.sources.jsonrpc import JsonRpcClient

SYMBOL_SELECTOR = "0x95d89b41"  # symbol()
DECIMALS_SELECTOR = "0x313ce567"  # decimals()


def decode_symbol(result: str) -> str | None:
    """An `eth_call` result of symbol(): ABI string or bytes32, printable text only."""
    try:
        raw = bytes.fromhex(result[2:] if result.startswith("0x") else result)
    except ValueError:
        return None
    if len(raw) == 32:
        text = raw.rstrip(b"\x00")
    elif len(raw) >= 64:
        offset = int.from_bytes(raw[:32], "big")
        if offset + 32 > len(raw):
            return None
        length = int.from_bytes(raw[offset : offset + 32], "big")
        if offset + 32 + length > len(raw):
            return None
        text = raw[offset + 32 : offset + 32 + length]
    else:
        return None
    try:
        symbol = text.decode("utf-8").strip("\x00").strip()
    except UnicodeDecodeError:
        return None
    return symbol if symbol and symbol.isprintable() else None


def decode_decimals(result: str) -> int | None:
    """An `eth_call` result of decimals(): one word holding 0..255 (uint8 by the ERC-20 standard)."""
    try:
        raw = bytes.fromhex(result[2:] if result.startswith("0x") else result)
    except ValueError:
        return None
    if len(raw) != 32:
        return None
    value = int.from_bytes(raw, "big")
    return value if value <= 255 else None


async def _call(client: JsonRpcClient, address: str, selector: str, block: str) -> str | None:
    try:
        result = await client.call("eth_call", [{"to": address, "data": selector}, block])
    except (NodeError, MalformedResponseError):
        return None  # reverted or not implemented
    return result if isinstance(result, str) else None


async def fetch_token_metadata(client: JsonRpcClient, address: str, block: str = "latest") -> tuple[str, int] | None:
    """(symbol, decimals) of an ERC-20 token read live; None when the contract does not say both.

    Network failures (`RetriableRpcError`, `AllEndpointsFailedError`) propagate: "unknown" and
    "could not ask" are different answers.
    """
    address = address.lower()
    symbol_hex, decimals_hex = await asyncio.gather(
        _call(client, address, SYMBOL_SELECTOR, block), _call(client, address, DECIMALS_SELECTOR, block)
    )
    symbol = decode_symbol(symbol_hex) if symbol_hex else None
    decimals = decode_decimals(decimals_hex) if decimals_hex else None
    if symbol is None or decimals is None:
        return None
    return symbol, decimals


__all__ = ["decode_decimals", "decode_symbol", "fetch_token_metadata"]
