"""CREATE2 addresses (EIP-1014): how a pool's identity is proven from its factory and tokens.

address = keccak256(0xff ++ factory ++ salt ++ keccak256(init_code))[12:]. A V2-style pair's salt is
keccak256(token0 ++ token1) (packed); a V3 pool's is keccak256(abi.encode(token0, token1, fee)).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak


@dataclass(frozen=True, slots=True)
class Factory:
    """A pool factory: which protocol and family its pools belong to and its pair init code hash."""

    protocol: str
    family: str
    chain: str
    address: str
    init_code_hash: str


def _raw(hex_text: str, size: int) -> bytes:
    raw = bytes.fromhex(hex_text[2:] if hex_text.startswith(("0x", "0X")) else hex_text)
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes, got {hex_text!r}")
    return raw


def create2_address(deployer: str, salt: bytes, init_code_hash: str) -> str:
    digest = keccak(b"\xff" + _raw(deployer, 20) + salt + _raw(init_code_hash, 32))
    return "0x" + digest[12:].hex()


def sort_tokens(token_a: str, token_b: str) -> tuple[str, str]:
    """Tokens in the factories' order (numerically ascending addresses)."""
    a, b = token_a.lower(), token_b.lower()
    return (a, b) if a < b else (b, a)


def v2_pair_address(factory: str, token_a: str, token_b: str, init_code_hash: str) -> str:
    token0, token1 = sort_tokens(token_a, token_b)
    salt = keccak(_raw(token0, 20) + _raw(token1, 20))
    return create2_address(factory, salt, init_code_hash)


def v3_pool_address(factory: str, token_a: str, token_b: str, fee: int, init_code_hash: str) -> str:
    token0, token1 = sort_tokens(token_a, token_b)
    salt = keccak(bytes(12) + _raw(token0, 20) + bytes(12) + _raw(token1, 20) + fee.to_bytes(32, "big"))
    return create2_address(factory, salt, init_code_hash)


def pool_address(factory: Factory, token0: str, token1: str, fee: int | None) -> str:
    """The address `factory` deploys for these tokens (and fee, for V3-style factories)."""
    if factory.family == "uniswap_v3":
        if fee is None:
            raise ValueError("a V3-style pool needs its fee tier")
        return v3_pool_address(factory.address, token0, token1, fee, factory.init_code_hash)
    return v2_pair_address(factory.address, token0, token1, factory.init_code_hash)
