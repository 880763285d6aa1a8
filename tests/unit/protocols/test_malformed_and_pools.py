"""Odd logs are counted and skipped, never fatal; pools and tokens come from proven shipped lists."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from onchain.config import FactoryConfig
from onchain.domain.chain import Log
from onchain.domain.events import Event
from onchain.protocols import Decoder, PoolDirectory, PoolInfo, TokenDirectory
from onchain.protocols.create2 import v2_pair_address, v3_pool_address
from onchain.protocols.pools import BUILTIN_FACTORIES, prove
from onchain.protocols.registry import build_event

from .helpers import USDT, WETH, WETH_USDT_PAIR, etl_logs

SUSHI_WETH_USDT = "0x06da0fd433c1a5d7a4faa01111c044910a184553"
SUSHI_FACTORY = "0xc0aee478e3658e2610c5f7a4a2e1777ce9e4f2ac"
SUSHI_INIT_CODE_HASH = "0xe18a34eb0e04b04f7a0ac29a6e80748dca96319b42c54d679cb821dca90c6303"


@pytest.fixture(scope="module")
def real(chaindata: Path) -> dict[str, Log]:
    """One real log per kind we mutate below."""
    found: dict[str, Log] = {}
    for log in etl_logs(chaindata):
        if log.topics and log.topics[0].startswith("0xd78ad95f"):
            found.setdefault("swap", log)
        if log.topics and log.topics[0].startswith("0xddf252ad") and len(log.topics) == 3:
            found.setdefault("transfer", log)
        if log.topics and log.topics[0].startswith("0xf6a97944"):
            found.setdefault("transmission", log)
    return found


def test_malformed_logs_are_counted_not_raised(real: dict[str, Log]) -> None:
    swap, transfer, transmission = real["swap"], real["transfer"], real["transmission"]
    bad = [
        replace(swap, data=swap.data[:-64]),  # a word short
        replace(swap, topics=swap.topics[:2]),  # a topic missing
        replace(transfer, topics=(transfer.topics[0], "0x" + "ff" * 32, transfer.topics[2])),  # not an address
        replace(transfer, data="0x" + "zz" * 32),  # not hex
        replace(transfer, data=transfer.data + "0"),  # odd hex length
        replace(transmission, data=transmission.data[: -64 * 3]),  # dynamic tail cut short
        Log(1, "0x", "0x", 0, 0, WETH_USDT_PAIR, (), "0x"),  # anonymous log, no topic at all
    ]
    result = Decoder("ethereum").decode([*bad, swap, transfer])
    assert result.skipped == {"uniswap_v2.Swap": 2, "erc20.Transfer": 3, "chainlink.NewTransmission": 1}
    assert [e.kind for e in result.events] == ["uniswap_v2.Swap", "erc20.Transfer"]


def test_weth_events_only_from_wrapped_native(chaindata: Path) -> None:
    deposits = [log for log in etl_logs(chaindata) if log.topics and log.topics[0].startswith("0xe1fffcc4")]
    elsewhere = [replace(log, address="0x" + "12" * 20) for log in deposits]
    result = Decoder("ethereum").decode(elsewhere)
    assert result.events == [] and result.skipped == {}


def test_sync_reserve_beyond_uint112_is_skipped(real: dict[str, Log]) -> None:
    sync = Log(
        1,
        "0x",
        "0x",
        0,
        0,
        WETH_USDT_PAIR,
        ("0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1",),
        "0x" + "ff" * 32 + "00" * 32,
    )
    assert Decoder("ethereum").decode([sync]).skipped == {"uniswap_v2.Sync": 1}


def pair_created(factory: str, token0: str, token1: str, pair: str) -> Log:
    def word(address: str) -> str:
        return "0x" + "0" * 24 + address[2:]

    topics = ("0x0d3648bd0f6ba80134a33ba9275ac585d9d315f0ad8355cddefde31afa28d0e9", word(token0), word(token1))
    return Log(1, "0x", "0x", 0, 0, factory, topics, "0x" + word(pair)[2:] + f"{7:064x}")


def test_configured_factory_and_unproven_pools() -> None:
    # A factory named in settings (here SushiSwap's, under another slug) attributes the pools it proves.
    config = FactoryConfig(
        protocol="my-fork", chain="ethereum", address="0x" + "ee" * 20, init_code_hash="0x" + "11" * 32
    )
    fork_pair = v2_pair_address(config.address, WETH, USDT, config.init_code_hash)
    decoder = Decoder("ethereum", PoolDirectory(), factories=[config])
    ok = decoder.decode([pair_created(config.address, WETH, USDT, fork_pair)])
    assert [(p.protocol, p.address) for p in ok.new_pools] == [("my-fork", fork_pair)]
    assert ok.events[0].protocol == "my-fork"
    # The Uniswap factory announcing an address CREATE2 does not give: decoded, not attributed, not learned.
    lie = decoder.decode([pair_created("0x5c69bee701ef814a2b6a3edd4b1652cb9cc5aa6f", WETH, USDT, SUSHI_WETH_USDT)])
    assert lie.new_pools == [] and [p.address for p in lie.unproven_pools] == [SUSHI_WETH_USDT]
    assert lie.events[0].protocol is None
    assert decoder.pools.get(SUSHI_WETH_USDT) is None


def test_shipped_pools_are_all_proven() -> None:
    directory = PoolDirectory.default("ethereum")
    assert len(directory) > 1500 and directory.rejected == []
    sushi = directory.get(SUSHI_WETH_USDT)
    assert sushi is not None and sushi.protocol == "sushiswap" and (sushi.token0, sushi.token1) == (WETH, USDT)
    assert v2_pair_address(SUSHI_FACTORY, WETH, USDT, SUSHI_INIT_CODE_HASH) == SUSHI_WETH_USDT
    v3 = directory.get("0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640")
    assert v3 is not None and (v3.protocol, v3.fee) == ("uniswap-v3", 500)
    assert v3_pool_address(v3.factory, v3.token0, v3.token1, 500, BUILTIN_FACTORIES[-1].init_code_hash) == v3.address
    assert {p.protocol for p in directory} == {"uniswap-v2", "sushiswap", "uniswap-v3"}
    assert PoolDirectory.default("fantom").pools == {}


def test_a_tampered_pool_row_fails_its_proof() -> None:
    pool = PoolDirectory.default("ethereum").get(WETH_USDT_PAIR)
    assert pool is not None
    factory = next(f for f in BUILTIN_FACTORIES if f.protocol == pool.protocol)
    assert prove(pool, factory)
    tampered: PoolInfo = replace(pool, token1="0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")
    assert not prove(tampered, factory)


def test_token_directory() -> None:
    tokens = TokenDirectory.default()
    assert (tokens.symbol("ethereum", WETH), tokens.decimals("ethereum", WETH)) == ("WETH", 18)
    assert tokens.decimals("ethereum", USDT) == 6
    assert tokens.decimals("ethereum", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48") == 6
    assert tokens.symbol("polygon", "0x0d500b1d8e8ef31e21c99d1db9a6444d3adf1270") == "WMATIC"
    assert tokens.get("ethereum", "0x" + "00" * 19 + "01") is None
    assert {"ethereum", "polygon", "arbitrum", "base", "bsc", "optimism"} <= set(tokens.chains())


def test_fast_event_builder_equals_the_dataclass() -> None:
    values = ("ethereum", 7, "0xb", "0xt", 1, 2, "0xa", "erc20", "Transfer", None, {"value": 1})
    built = build_event(*values)
    assert type(built) is Event and built == Event(*values)
    with pytest.raises(AttributeError):
        built.chain = "polygon"  # type: ignore[misc]
