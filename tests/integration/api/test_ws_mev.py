"""The `mev` channel of `/v2/realtime` on a real uvicorn server, fed by recorded mainnet blocks.

Recorded mev-inspect blocks replay through the real pipeline (with their call traces); the MEV service
publishes each block's findings on the bus topic `mev`, and the gateway turns each into one `mev`
update: id = chain, value = number of findings, the findings as `onchain mev inspect` prints them, with
wei amounts past 2**53 as decimal strings. Updates carry the channel's seq and can be resumed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from onchain.analytics.mev import inspect_recorded_block
from onchain.analytics.mev.service import read_findings
from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.runtime import Runtime
from onchain.sources.replay import ReplaySource
from onchain.storage.store import Store
from tests.integration.api.conftest import serving
from tests.integration.api.test_ws import TIMEOUT, Peer

# What `onchain mev inspect` finds in them: one sandwich (12775690); a sandwich and two arbitrages
# (12914944); a sandwich, three arbitrages and a Cream liquidation (13404932); nothing (13666184).
BLOCKS = ("12775690", "12914944", "13404932", "13666184")
KINDS = ("sandwiches", "arbitrages", "liquidations")


def plain(value: Any) -> Any:
    """What a JSON client reads: integers past 2**53 as decimal strings."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    return value


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Runtime, str]]:
    runtime = Runtime(Settings(data_dir=tmp_path), await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'mev.db'}"),
                      MemoryBus())
    app = create_app(runtime.settings, runtime)
    try:
        async with serving(app) as address:
            yield runtime, address
    finally:
        await runtime.close()


async def open_peer(address: str) -> Peer:
    peer = Peer(await connect(f"ws://{address}/v2/realtime", open_timeout=TIMEOUT))
    await peer.barrier()
    return peer


async def test_mev_findings_of_replayed_blocks_reach_subscribers(
    served: tuple[Runtime, str], chaindata: Path
) -> None:
    runtime, address = served
    files = [chaindata / "mev-inspect-blocks" / f"{name}.json" for name in BLOCKS]
    recorded = {int(name): json.loads(path.read_text()) for name, path in zip(BLOCKS, files, strict=True)}
    expected = {number: inspect_recorded_block(raw).to_json() for number, raw in recorded.items()}
    with_findings = sorted(n for n, b in expected.items() if any(b[k] for k in KINDS))
    assert with_findings == [12775690, 12914944, 13404932]

    ethereum, polygon, everything = await open_peer(address), await open_peer(address), await open_peer(address)
    await ethereum.send({"type": "subscribe", "channel": "mev", "params": {"chains": ["ethereum"]}})
    await polygon.send({"type": "subscribe", "channel": "mev", "params": {"chains": ["polygon"]}})
    await everything.send({"type": "subscribe", "channel": "mev"})
    for peer in (ethereum, polygon, everything):
        assert (await peer.expect("subscribed"))["seq"] == 0

    source = ReplaySource(files)
    try:
        pipeline = await runtime.pipeline(source, allow_gaps=True)
        await pipeline.run(source.numbers[0], source.numbers[-1], resume=False)
    finally:
        await source.close()

    rows, _ = await read_findings(runtime.store, chain="ethereum", limit=100)
    stored_times = {row["block"]: row["timestamp"] for row in rows}
    # The recording's block_timestamp where it has one (12914944's file has none).
    assert stored_times[12775690] == recorded[12775690]["block_timestamp"]
    updates = await ethereum.updates(3)
    assert [u["seq"] for u in updates] == [1, 2, 3]
    for update in updates:
        data = update["data"]
        number = data["block"]
        assert data["id"] == data["chain"] == "ethereum" and data["change24h"] is None
        assert data["timestamp"] == stored_times[number]
        # The service adds profit_usd (null: this runtime wires no price engine); the rest is inspect's shape.
        assert {f["profit_usd"] for k in KINDS for f in data[k]} == {None}
        shaped = {k: [{n: v for n, v in f.items() if n != "profit_usd"} for f in data[k]] for k in KINDS}
        assert shaped == plain({k: expected[number][k] for k in KINDS})
    assert [u["data"]["value"] for u in updates] == [1, 3, 5]
    [sandwich] = updates[0]["data"]["sandwiches"]
    assert sandwich["profit_amount"] == "49991481915322274"  # past 2**53: exact digits as a string
    assert [u["data"]["block"] for u in await everything.updates(3)] == with_findings
    await polygon.barrier()
    assert polygon.inbox == []

    # A client that saw only seq 1 resumes and gets the other two blocks, in order.
    late = await open_peer(address)
    await late.send({"type": "subscribe", "channel": "mev", "params": {"chains": ["ethereum"], "resumeFrom": 1}})
    assert (await late.expect("subscribed"))["seq"] == 3
    assert [(u["seq"], u["data"]["block"]) for u in await late.updates(2)] == [(2, 12914944), (3, 13404932)]
    for peer in (ethereum, polygon, everything, late):
        await asyncio.wait_for(peer.ws.close(), TIMEOUT)
