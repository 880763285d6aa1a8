"""The chain registry: 100+ EVM chains shipped as data, with per-deployment endpoint overrides."""

from onchain.chains.registry import ChainInfo, ChainRegistry

__all__ = ["ChainInfo", "ChainRegistry"]
