"""MEV found while recorded mainnet blocks go through the real pipeline, on SQLite and PostgreSQL.

The recorded mev-inspect blocks replay from a local JSON-RPC server that answers `trace_block`, so
the bundles carry the blocks' call traces and the service inspects them as `onchain mev inspect`
does; what is stored and published must be exactly what inspecting the files finds. The ethereum-etl
blocks carry logs and no traces: there the service reads swaps from Swap and Transfer events. The
alert engine's `mev_detected` reads the published findings.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from onchain.alerts.engine import announce_rule_change
from onchain.alerts.rule_schema import RuleIn
from onchain.alerts.service import AlertService
from onchain.analytics.mev import inspect_recorded_block
from onchain.analytics.mev.service import market_value_usd, read_findings
from onchain.analytics.mev.tables import mev_findings
from onchain.bus import MemoryBus
from onchain.bus.base import Subscription
from onchain.config import Settings
from onchain.domain.topics import ALERTS as ALERTS_TOPIC
from onchain.domain.topics import MEV
from onchain.ingest.stats import IngestStats
from onchain.metrics.service import MarketService
from onchain.runtime import Runtime
from onchain.sources.replay import ReplaySource
from onchain.storage.store import Store
from tests.integration.storage.databases import fresh_postgres

LISTS = {"sandwich": "sandwiches", "arbitrage": "arbitrages", "liquidation": "liquidations"}
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'mev.db'}"
        return
    async with fresh_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
async def runtime(store_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(Settings(data_dir=tmp_path), await Store.open(store_url), MemoryBus())
    try:
        yield runtime
    finally:
        await runtime.close()


def mev_files(chaindata: Path) -> list[Path]:
    return sorted((chaindata / "mev-inspect-blocks").glob("*.json"))


def inspected(files: list[Path]) -> dict[int, dict[str, Any]]:
    """What `onchain mev inspect` prints for these files, per block, for blocks with any finding.

    10921990.json holds block 10921991 again (the same block as 10921991.json), so 27 files are 26 blocks.
    """
    blocks = [inspect_recorded_block(json.loads(path.read_text())).to_json() for path in files]
    return {b["block"]: b for b in blocks if b["sandwiches"] or b["arbitrages"] or b["liquidations"]}


def without_usd(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings as `onchain mev inspect` prints them: the service's `profit_usd` dropped."""
    return [{k: v for k, v in finding.items() if k != "profit_usd"} for finding in findings]


def as_blocks(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Stored rows regrouped into `onchain mev inspect`'s per-block shape (without `profit_usd`)."""
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        block = out.setdefault(row["block"], {"block": row["block"], "sandwiches": [], "arbitrages": [],
                                              "liquidations": []})
        finding = {k: v for k, v in row.items() if k not in ("chain", "block", "timestamp", "kind", "profit_usd")}
        block[LISTS[row["kind"]]].append(finding)
    return out


async def replay(runtime: Runtime, path: Path | list[Path]) -> IngestStats:
    source = ReplaySource(path)
    try:
        pipeline = await runtime.pipeline(source, allow_gaps=True)
        return await pipeline.run(source.numbers[0], source.numbers[-1], resume=False)
    finally:
        await source.close()


async def drained(subscription: Subscription) -> list[dict[str, Any]]:
    messages = []
    while True:
        try:
            messages.append((await subscription.get(timeout=0.05)).json())
        except TimeoutError:
            return messages


async def stored_count(store: Store) -> int:
    async with store.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(mev_findings))).scalar_one())


async def test_replayed_blocks_store_and_publish_what_inspect_finds(runtime: Runtime, chaindata: Path) -> None:
    files = mev_files(chaindata)
    expected = inspected(files)
    subscription = await runtime.bus.subscribe(MEV)

    stats = await replay(runtime, files)

    assert stats.blocks == 26
    assert runtime.mev.stats.from_traces == 26 and runtime.mev.stats.from_events == 0
    rows, following = await read_findings(runtime.store, chain="ethereum", limit=1000)
    assert following is None
    assert as_blocks(rows) == expected
    # No price engine is wired to this runtime, so no profit has a USD value.
    assert {row["profit_usd"] for row in rows} == {None}
    # Rows carry the stored block's timestamp, the recording's `block_timestamp`.
    recorded = json.loads((chaindata / "mev-inspect-blocks" / "12775690.json").read_text())["block_timestamp"]
    assert {row["timestamp"] for row in rows if row["block"] == 12775690} == {recorded}

    # One message per block with findings, in block order, shaped as the alert engine and analytics read it.
    messages = await drained(subscription)
    assert [m["block"] for m in messages] == sorted(expected)
    for message in messages:
        assert set(message) == {"chain", "block", "timestamp", "sandwiches", "arbitrages", "liquidations", "jit"}
        assert message["chain"] == "ethereum"
        assert message["block"] == expected[message["block"]]["block"]
        for key in LISTS.values():
            assert without_usd(message[key]) == expected[message["block"]][key]

    # Findings of the files, to the wei (how they follow from the traces: tests/unit/analytics/mev).
    [sandwich] = expected[12775690]["sandwiches"]
    assert sandwich["profit_amount"] == 49991481915322274 and len(sandwich["victim_txs"]) == 4
    assert sorted(a["profit_amount"] for a in expected[12914944]["arbitrages"]) == [
        750005273675102326,
        53560707941943273628,
    ]
    assert [q["protocol"] for q in expected[13404932]["liquidations"]] == ["cream"]


async def test_replaying_again_stores_each_finding_once(runtime: Runtime, chaindata: Path) -> None:
    files = mev_files(chaindata)
    await replay(runtime, files)
    first, _ = await read_findings(runtime.store, limit=1000)
    await replay(runtime, files)
    second, _ = await read_findings(runtime.store, limit=1000)
    assert second == first
    assert await stored_count(runtime.store) == len(first) == sum(
        len(b[key]) for b in inspected(files).values() for key in LISTS.values()
    )


async def test_pages_and_filters(runtime: Runtime, chaindata: Path) -> None:
    await replay(runtime, mev_files(chaindata))
    everything, _ = await read_findings(runtime.store, limit=1000)
    paged: list[dict[str, Any]] = []
    after = None
    while True:
        page, after = await read_findings(runtime.store, limit=7, after=after)
        paged.extend(page)
        if after is None:
            break
    assert paged == everything

    arbitrages, _ = await read_findings(runtime.store, kind="arbitrage", from_block=12914944, to_block=12914944)
    assert sorted(a["profit_amount"] for a in arbitrages) == [750005273675102326, 53560707941943273628]
    assert await read_findings(runtime.store, chain="polygon") == ([], None)


async def test_rollback_removes_the_findings_of_orphaned_blocks(runtime: Runtime, chaindata: Path) -> None:
    await replay(runtime, mev_files(chaindata))
    everything, _ = await read_findings(runtime.store, limit=1000)
    assert any(row["block"] > 12914944 for row in everything)

    await runtime.store.rollback_after("ethereum", 12914944)

    kept, _ = await read_findings(runtime.store, limit=1000)
    assert kept == [row for row in everything if row["block"] <= 12914944]
    assert await stored_count(runtime.store) == len(kept)


async def test_blocks_without_traces_are_inspected_from_their_events(runtime: Runtime, chaindata: Path) -> None:
    """Block 17173049: searcher 0x6b75...9a80 buys 0x1ce2... with 7056176614974947328 wei of WETH in the
    Uniswap V2 pair 0x7054...775c (transaction 0), a router user buys the same way with 7.4 WETH
    (transaction 1), and the searcher sells exactly what it bought for 7291558767169110016 wei
    (transaction 2): the pair's Swap events say so, and the profit is the difference."""
    subscription = await runtime.bus.subscribe(MEV)
    await replay(runtime, chaindata / "ethereum-etl-17173049")
    assert runtime.mev.stats.from_events == 2 and runtime.mev.stats.from_traces == 0

    rows, _ = await read_findings(runtime.store, from_block=17173049, to_block=17173049)
    assert rows == [
        {
            "chain": "ethereum",
            "block": 17173049,
            "timestamp": rows[0]["timestamp"],
            "kind": "sandwich",
            "searcher": "0x6b75d8af000000e20b7a7ddf000ba900b4009a80",
            "frontrun_tx": "0xeb107a40ba73a50c79a9f2026e902d758d1c5e5e211f7a7db1b294f88f118dd0",
            "backrun_tx": "0xfb6562bc2ebde7ca21528e88bd9f5506949754e0880e79778007bc95819adb10",
            "victim_txs": ["0xec7cc4df1ff542793053335700f18d59c3f870e1e4820a42d558c76db832bd14"],
            "pool": "0x7054b0f980a7eb5b3a6b3446f3c947d80162775c",
            "profit_token": WETH,
            "profit_amount": 7291558767169110016 - 7056176614974947328,
            "profit_usd": None,
        }
    ]
    assert [m["block"] for m in await drained(subscription)] == [17173049, 17173050]


async def test_profit_in_usd_comes_from_the_market_that_saw_the_blocks(runtime: Runtime, chaindata: Path) -> None:
    """The same logs-path sandwich of block 17173049, with the market service as price engine.

    The market folds the replayed blocks from the bus; its WETH price is the WETH/stablecoin pairs'
    reserves ratio in these blocks, about 1830 USD. The second replay re-inspects the blocks with that
    engine wired, so the stored and published sandwich's `profit_usd` is its WETH profit
    (235382152194162688 wei = 0.2354 WETH) times that price, about 430 USD.
    """
    market = MarketService(runtime.store, runtime.bus)
    await market.start()
    try:
        folder = chaindata / "ethereum-etl-17173049"
        await replay(runtime, folder)
        await market.rebuild()  # every replayed block folded, whatever the bus task has reached
        runtime.mev.value_usd = market_value_usd(market)
        subscription = await runtime.bus.subscribe(MEV)
        await replay(runtime, folder)
        published = [m for m in await drained(subscription) if m["block"] == 17173049]
    finally:
        await market.stop()
    weth_usd = market.state.prices[f"ethereum:{WETH}"].price_usd
    assert 1800 < weth_usd < 1860
    profit = 7291558767169110016 - 7056176614974947328
    [row] = (await read_findings(runtime.store, kind="sandwich", from_block=17173049, to_block=17173049))[0]
    assert row["profit_amount"] == profit
    assert row["profit_usd"] == pytest.approx(profit / 1e18 * weth_usd)
    assert 420 < row["profit_usd"] < 440
    [message] = published
    assert message["sandwiches"][0]["profit_usd"] == row["profit_usd"]


async def test_mev_detected_alert_fires_on_the_published_sandwich(runtime: Runtime, chaindata: Path) -> None:
    """The alert engine reads what the service publishes: a rule on the searcher of 12775690's sandwich
    (0x0000...c4d8, the front-run's recipient) fires once, for that block and front-run transaction."""
    searcher = "0x000000000027d2efc283613d0c3e24a8b430c4d8"
    service = AlertService(Settings(), runtime.store, runtime.bus)
    pushed = await runtime.bus.subscribe(ALERTS_TOPIC)
    await service.start()
    try:
        rule = RuleIn.model_validate({"name": "sandwiches by one searcher", "condition": "mev_detected",
                                      "subject": {"type": "wallet", "id": searcher}, "threshold": 0,
                                      "channels": [{"type": "websocket"}]})
        alert = await service.store.create_alert("mev-user", rule, time.time())
        await announce_rule_change(runtime.bus, "upsert", alert.id)
        async with asyncio.timeout(10):
            while alert.id not in service.engine.book:
                await asyncio.sleep(0.02)
        await replay(runtime, mev_files(chaindata))
        message = (await pushed.get(timeout=10)).json()["message"]
        with pytest.raises(TimeoutError):
            await pushed.get(timeout=0.5)
    finally:
        await pushed.close()
        await service.stop()
    [sandwich] = inspected(mev_files(chaindata))[12775690]["sandwiches"]
    assert message["alertId"] == alert.id and message["condition"] == "mev_detected"
    assert message["data"]["block"] == 12775690 and message["data"]["kind"] == "sandwich"
    assert message["data"]["frontrun_tx"] == sandwich["frontrun_tx"] and message["data"]["searcher"] == searcher
