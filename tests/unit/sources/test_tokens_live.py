"""Decoding symbol() and decimals() answers: ABI strings, bytes32 symbols, and answers to refuse."""

from __future__ import annotations

from eth_abi.abi import encode

from onchain.sources.tokens_live import decode_decimals, decode_symbol


def test_abi_string_symbol() -> None:
    assert decode_symbol("0x" + encode(["string"], ["WETH"]).hex()) == "WETH"


def test_bytes32_symbol() -> None:
    assert decode_symbol("0x" + b"MKR".ljust(32, b"\x00").hex()) == "MKR"


def test_unreadable_symbols() -> None:
    assert decode_symbol("0x") is None
    assert decode_symbol("0x" + "00" * 32) is None
    assert decode_symbol("0xzz") is None
    assert decode_symbol("0x" + encode(["string"], ["WETH"]).hex()[:-64 * 2]) is None
    assert decode_symbol("0x" + (b"\xff\xfe".ljust(32, b"\x00")).hex()) is None


def test_decimals() -> None:
    assert decode_decimals("0x" + encode(["uint8"], [18]).hex()) == 18
    assert decode_decimals("0x" + encode(["uint256"], [256]).hex()) is None
    assert decode_decimals("0x") is None
