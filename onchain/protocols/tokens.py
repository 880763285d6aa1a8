"""Token metadata (symbol, decimals) by chain and address, from the shipped token list.

Pure lookups: tokens not in the list answer None, and the caller may ask the chain (`eth_call`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class TokenInfo:
    chain: str
    address: str
    symbol: str
    decimals: int


@lru_cache(maxsize=1)
def _shipped() -> dict[str, dict[str, tuple[str, int]]]:
    text = resources.files("onchain.protocols").joinpath("data/tokens.json").read_text()
    chains = json.loads(text)["chains"]
    return {
        chain: {str(address): (str(symbol), int(decimals)) for address, symbol, decimals in rows}
        for chain, rows in chains.items()
    }


class TokenDirectory:
    """chain + address -> TokenInfo; starts from the shipped list, and learns tokens added later."""

    def __init__(self, tokens: dict[str, dict[str, tuple[str, int]]] | None = None) -> None:
        source = _shipped() if tokens is None else tokens
        self._tokens: dict[str, dict[str, tuple[str, int]]] = {chain: dict(rows) for chain, rows in source.items()}

    @classmethod
    def default(cls) -> TokenDirectory:
        return cls()

    def get(self, chain: str, address: str) -> TokenInfo | None:
        found = self._tokens.get(chain, {}).get(address.lower())
        if found is None:
            return None
        return TokenInfo(chain, address.lower(), found[0], found[1])

    def symbol(self, chain: str, address: str) -> str | None:
        info = self.get(chain, address)
        return info.symbol if info is not None else None

    def decimals(self, chain: str, address: str) -> int | None:
        info = self.get(chain, address)
        return info.decimals if info is not None else None

    def add(self, info: TokenInfo) -> None:
        """Record a token learned elsewhere (an `eth_call` to symbol()/decimals())."""
        self._tokens.setdefault(info.chain, {})[info.address.lower()] = (info.symbol, info.decimals)

    def chains(self) -> list[str]:
        return sorted(self._tokens)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._tokens.values())
