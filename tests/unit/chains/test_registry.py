"""The shipped chain registry and its overrides."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onchain.chains import ChainRegistry
from onchain.cli import _register_commands, app
from onchain.cli.serve import configured_chains
from onchain.config import Settings
from onchain.errors import ConfigError, UnknownChainError


def test_ships_over_100_chains_with_real_ids() -> None:
    registry = ChainRegistry.shipped()
    assert len(registry) >= 100
    expected = {"ethereum": 1, "arbitrum": 42161, "base": 8453, "bsc": 56, "polygon": 137, "optimism": 10,
                "avax": 43114, "devnet": 31337}
    assert {slug: registry.get(slug).chain_id for slug in expected} == expected
    assert len({c.slug for c in registry}) == len(registry)
    assert all(c.rpc_urls and all(u.startswith(("https://", "http://127.0.0.1")) for u in c.rpc_urls)
               for c in registry)


def test_lookup_by_id_alias_and_case() -> None:
    registry = ChainRegistry.shipped()
    assert registry.get(56).slug == "bsc"
    assert registry.get("56").slug == "bsc"
    assert registry.get("binance").slug == "bsc"
    assert registry.get("Ethereum").native_symbol == "ETH"
    assert registry.get("polygon").native_decimals == 18
    assert "arbitrum" in registry
    with pytest.raises(UnknownChainError):
        registry.get("no-such-chain")


def test_env_override_replaces_endpoints() -> None:
    env = {"ONCHAIN_BSC_RPC_URLS": "http://127.0.0.1:1, http://127.0.0.1:2", "ONCHAIN_ETHEREUM_WS_URLS": "ws://x"}
    registry = ChainRegistry.load(Settings(), environ=env)
    assert registry.get("bsc").rpc_urls == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    assert registry.get("ethereum").ws_urls == ("ws://x",)
    assert registry.get("base").rpc_urls == ChainRegistry.shipped().get("base").rpc_urls


def test_env_override_of_dashed_slug() -> None:
    chain = ChainRegistry.load(Settings(chain_overrides={"my-chain": {"chain_id": 999999, "rpc_urls": ["http://a"]}}),
                               environ={"ONCHAIN_MY_CHAIN_RPC_URLS": "http://b"}).get("my-chain")
    assert chain.rpc_urls == ("http://b",)
    assert chain.chain_id == 999999


def test_toml_override_and_env_wins() -> None:
    settings = Settings(chain_overrides={"arbitrum": {"rpc_urls": ["http://file"], "block_time": 0.3}})
    assert ChainRegistry.load(settings, environ={}).get("arbitrum").rpc_urls == ("http://file",)
    assert ChainRegistry.load(settings, environ={}).get("arbitrum").block_time == 0.3
    env = {"ONCHAIN_ARBITRUM_RPC_URLS": "http://env"}
    assert ChainRegistry.load(settings, environ=env).get("arbitrum").rpc_urls == ("http://env",)


def test_endpoint_variables_reach_the_registry_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """`onchain.config` reads them (no other module reads the environment); the names are unchanged."""
    monkeypatch.setenv("ONCHAIN_BSC_RPC_URLS", "http://127.0.0.1:1")
    monkeypatch.setenv("ONCHAIN_ETHEREUM_WS_URLS", "ws://x")
    monkeypatch.setenv("ONCHAIN_REDIS_PREFIX", "not-an-endpoint:")
    settings = Settings()
    assert settings.chain_endpoints["ONCHAIN_BSC_RPC_URLS"] == "http://127.0.0.1:1"
    assert settings.chain_endpoints["ONCHAIN_ETHEREUM_WS_URLS"] == "ws://x"
    assert "ONCHAIN_REDIS_PREFIX" not in settings.chain_endpoints
    registry = ChainRegistry.load(settings)
    assert registry.get("bsc").rpc_urls == ("http://127.0.0.1:1",)
    assert registry.get("ethereum").ws_urls == ("ws://x",)
    assert "bsc" in configured_chains(settings, registry)


def test_unknown_chain_in_config_without_id_is_an_error() -> None:
    with pytest.raises(ConfigError):
        ChainRegistry.load(Settings(chain_overrides={"nowhere": {"rpc_urls": ["http://a"]}}), environ={})


def test_chains_command_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCHAIN_BASE_RPC_URLS", "http://127.0.0.1:9")
    _register_commands()
    result = CliRunner().invoke(app, ["chains", "--json"])
    assert result.exit_code == 0, result.output
    chains = json.loads(result.output)
    assert len(chains) >= 100
    base = next(c for c in chains if c["chainId"] == 8453)
    assert base["slug"] == "base" and base["rpc"] == ["http://127.0.0.1:9"]
    assert set(base) >= {"chainId", "name", "slug", "nativeCurrency", "blockTime", "rpc"}
    assert base["nativeCurrency"] == {"symbol": "ETH", "decimals": 18}


def test_chains_command_table() -> None:
    _register_commands()
    result = CliRunner().invoke(app, ["chains"])
    assert result.exit_code == 0, result.output
    assert "ethereum" in result.output
