"""Issue 3's acceptance as a user meets it: `onchain replay` of recorded mainnet blocks, then `onchain
serve` on that database (two processes, so the market is rebuilt from storage alone), asked over HTTP.

The expected figures come from the raw logs here, without the product's code: WETH's price from the
last Sync of the deepest WETH/USDT pair, that pair's 24 h volume from the USDT side of its Swap logs
and its TVL from its reserves times prices.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cli import onchain, serving

DATASET = "ethereum-etl-17173049"
PAIR = "0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"  # token0 WETH (18 decimals), token1 USDT (6)
WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "ethereum:0xdac17f958d2ee523a2206206994597c13d831ec7"
ETH = "ethereum:0x0000000000000000000000000000000000000000"
SYNC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"  # Sync(uint112,uint112)
SWAP = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"  # V2 Swap
STARTUP_SECONDS = 60


def word(data: str, index: int) -> int:
    return int(data[2 + 64 * index: 66 + 64 * index], 16)


def expected_figures(chaindata: Path) -> dict[str, float]:
    logs = [json.loads(line) for line in (chaindata / DATASET / "logs.json").read_text().splitlines() if line]
    pair_logs = [log for log in logs if log["address"] == PAIR]
    last_sync = max((log for log in pair_logs if log["topics"][0] == SYNC),
                    key=lambda log: (log["block_number"], log["log_index"]))
    weth_reserve, usdt_reserve = word(last_sync["data"], 0) / 1e18, word(last_sync["data"], 1) / 1e6
    weth_price = usdt_reserve / weth_reserve
    # Swap data: amount0In, amount1In, amount0Out, amount1Out; the USDT side is words 1 and 3.
    volume = sum(word(log["data"], 1) + word(log["data"], 3) for log in pair_logs if log["topics"][0] == SWAP)
    return {"weth": weth_price, "tvl": weth_reserve * weth_price + usdt_reserve * 1.0, "volume": volume / 1e6}






def test_served_prices_and_pool_match_the_raw_logs(chaindata: Path, store_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "ONCHAIN_DATABASE_URL": store_url, "ONCHAIN_DATA_DIR": str(tmp_path / "data"),
           "ONCHAIN_REDIS_URL": ""}
    replay = onchain("replay", str(chaindata / DATASET), "--max", "--json", env=env)
    out, err = replay.communicate(timeout=120)
    assert replay.returncode == 0, err
    assert json.loads(out)["blocks"] == 2
    expected = expected_figures(chaindata)

    with serving(env, startup_seconds=STARTUP_SECONDS) as base:
        prices = httpx.get(f"{base}/v2/realtime/prices", timeout=10)
        pool = httpx.get(f"{base}/v2/pools/ethereum:{PAIR}", timeout=10)
        protocols = httpx.get(f"{base}/v2/protocols", timeout=10).json()["protocols"]
        pools = httpx.get(f"{base}/v2/pools", params={"chain": "ethereum"}, timeout=10).json()["pools"]

    assert prices.status_code == 200, prices.text
    coins = prices.json()["coins"]
    assert coins[WETH]["price"] == pytest.approx(expected["weth"], rel=0.01)
    assert coins[WETH]["symbol"] == "WETH" and coins[WETH]["decimals"] == 18
    assert coins[USDT]["price"] == pytest.approx(1.0, rel=0.01)
    assert coins[ETH]["symbol"] == "ETH" and coins[ETH]["price"] == pytest.approx(expected["weth"], rel=0.01)
    assert pool.status_code == 200, pool.text
    served: dict[str, Any] = pool.json()
    assert [t["symbol"] for t in served["tokens"]] == ["WETH", "USDT"]
    assert served["reserves"] is not None and served["block"] == 17173050
    assert served["volume24h"] == pytest.approx(expected["volume"], rel=0.005)
    assert served["tvl"] == pytest.approx(expected["tvl"], rel=0.01)
    # Only protocols with activity in these blocks: no $0 rows for the idle ones (Aave V3, Uniswap V3 pools
    # the shipped directory does not know).
    assert [p["id"] for p in protocols] == ["sushiswap", "uniswap-v2"]
    assert all(p["tvl"] > 0 and p["chains"] == ["ethereum"] for p in protocols)
    # The pools with events in these blocks, not every pool of the shipped directory.
    assert served in pools and all(p["block"] in (17173049, 17173050) for p in pools)
