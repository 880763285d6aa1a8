"""Coin ids (`chain:address`, DefiLlama's form) and address normalisation."""

from __future__ import annotations

NATIVE_ADDRESS = "0x" + "0" * 40


def normalize_address(address: str) -> str:
    """Lower-case 0x-prefixed 20-byte hex; raises ValueError on anything else."""
    text = address.strip().lower()
    if not text.startswith("0x"):
        text = "0x" + text
    if len(text) != 42:
        raise ValueError(f"not a 20-byte address: {address!r}")
    int(text[2:], 16)
    return text


def coin_id(chain: str, address: str) -> str:
    return f"{chain.lower()}:{normalize_address(address)}"


def split_coin_id(value: str) -> tuple[str, str]:
    """`ethereum:0xabc...` -> (`ethereum`, `0xabc...`); raises ValueError if malformed."""
    chain, sep, address = value.partition(":")
    if not sep or not chain:
        raise ValueError(f"coin id must look like chain:0xaddress, got {value!r}")
    return chain.lower(), normalize_address(address)
