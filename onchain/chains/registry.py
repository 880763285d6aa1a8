"""Lookups over `chains.json` (generated once by `generate.py`), plus endpoint overrides.

Overrides, strongest last: the shipped list, then `[chains.<slug>]` in onchain.toml
(`settings.chain_overrides`), then `ONCHAIN_<SLUG>_RPC_URLS` / `ONCHAIN_<SLUG>_WS_URLS` (comma lists).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from onchain.config import Settings
from onchain.errors import ConfigError, UnknownChainError

DEVNET = {
    "chainId": 31337, "slug": "devnet", "name": "Devnet (local anvil)", "aliases": ["anvil"],
    "nativeCurrency": {"symbol": "ETH", "decimals": 18}, "blockTime": 1,
    "rpc": ["http://127.0.0.1:8545"], "ws": ["ws://127.0.0.1:8545"],
}


@dataclass(frozen=True, slots=True)
class ChainInfo:
    """One EVM chain. `block_time` is typical seconds per block, None where unknown."""

    chain_id: int
    slug: str
    name: str
    native_symbol: str
    native_decimals: int
    block_time: float | None
    rpc_urls: tuple[str, ...]
    ws_urls: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())

    @property
    def env_prefix(self) -> str:
        """`ONCHAIN_<SLUG>` with the slug upper-cased and dashes made underscores."""
        return "ONCHAIN_" + self.slug.upper().replace("-", "_")

    def to_json(self) -> dict[str, Any]:
        """The public shape used by `onchain chains --json` and `GET /v2/chains`."""
        return {
            "chainId": self.chain_id,
            "name": self.name,
            "slug": self.slug,
            "nativeCurrency": {"symbol": self.native_symbol, "decimals": self.native_decimals},
            "blockTime": self.block_time,
            "rpc": list(self.rpc_urls),
            "ws": list(self.ws_urls),
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> ChainInfo:
        native = item["nativeCurrency"]
        block_time = item.get("blockTime")
        return cls(
            chain_id=int(item["chainId"]),
            slug=str(item["slug"]),
            name=str(item["name"]),
            native_symbol=str(native["symbol"]),
            native_decimals=int(native["decimals"]),
            block_time=float(block_time) if block_time is not None else None,
            rpc_urls=tuple(item.get("rpc", ())),
            ws_urls=tuple(item.get("ws", ())),
            aliases=tuple(item.get("aliases", ())),
        )


def _url_list(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(u.strip() for u in value.split(",") if u.strip())
    if isinstance(value, list | tuple) and all(isinstance(u, str) for u in value):
        return tuple(value)
    raise ConfigError(f"{where} must be a list of URLs or a comma-separated string")


class ChainRegistry:
    """Chains by slug, alias or chain id, in chain-id order."""

    def __init__(self, chains: list[ChainInfo]) -> None:
        self._chains = sorted(chains, key=lambda c: c.chain_id)
        self._by_key: dict[str, ChainInfo] = {}
        for chain in self._chains:
            for key in (chain.slug, *chain.aliases, str(chain.chain_id)):
                self._by_key.setdefault(key.lower(), chain)

    @classmethod
    def shipped(cls) -> ChainRegistry:
        """The registry exactly as shipped, no overrides."""
        raw = resources.files("onchain.chains").joinpath("chains.json").read_text()
        return cls([ChainInfo.from_json(item) for item in [*json.loads(raw), DEVNET]])

    @classmethod
    def load(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> ChainRegistry:
        """The shipped registry with onchain.toml and environment overrides applied; `environ` stands in
        for the settings' endpoint variables (`settings.chain_endpoints`)."""
        env = settings.chain_endpoints if environ is None else environ
        chains = {c.slug: c for c in cls.shipped()}
        for slug, override in settings.chain_overrides.items():
            chains[slug] = cls._apply_file_override(chains.get(slug), slug, override)
        for slug, chain in chains.items():
            rpc = env.get(f"{chain.env_prefix}_RPC_URLS")
            ws = env.get(f"{chain.env_prefix}_WS_URLS")
            if rpc:
                chain = replace(chain, rpc_urls=_url_list(rpc, f"{chain.env_prefix}_RPC_URLS"))
            if ws:
                chain = replace(chain, ws_urls=_url_list(ws, f"{chain.env_prefix}_WS_URLS"))
            chains[slug] = chain
        return cls(list(chains.values()))

    @staticmethod
    def _apply_file_override(base: ChainInfo | None, slug: str, override: Mapping[str, Any]) -> ChainInfo:
        where = f"[chains.{slug}]"
        if base is None:
            if "chain_id" not in override:
                raise ConfigError(f"{where} names an unknown chain; give chain_id to add it")
            base = ChainInfo(int(override["chain_id"]), slug, str(override.get("name", slug)), "ETH", 18, None, ())
        changes: dict[str, Any] = {}
        if "rpc_urls" in override:
            changes["rpc_urls"] = _url_list(override["rpc_urls"], f"{where} rpc_urls")
        if "ws_urls" in override:
            changes["ws_urls"] = _url_list(override["ws_urls"], f"{where} ws_urls")
        for key in ("name", "native_symbol"):
            if key in override:
                changes[key] = str(override[key])
        for key in ("native_decimals", "chain_id"):
            if key in override:
                changes[key] = int(override[key])
        if "block_time" in override:
            changes["block_time"] = float(override["block_time"])
        return replace(base, **changes)

    def get(self, name_or_id: str | int) -> ChainInfo:
        """A chain by slug (`bsc`), alias (`binance`) or id (`56`, 56); UnknownChainError otherwise."""
        chain = self._by_key.get(str(name_or_id).strip().lower())
        if chain is None:
            raise UnknownChainError(f"unknown chain: {name_or_id!r} (see `onchain chains`)")
        return chain

    def __contains__(self, name_or_id: object) -> bool:
        return isinstance(name_or_id, str | int) and str(name_or_id).strip().lower() in self._by_key

    def __iter__(self) -> Iterator[ChainInfo]:
        return iter(self._chains)

    def __len__(self) -> int:
        return len(self._chains)
