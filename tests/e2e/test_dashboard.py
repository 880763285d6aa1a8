"""The dashboard in headless Chromium: it loads, goes live, and its numbers and charts move as blocks arrive.

Uses Debian's `chromium` driven by Playwright (never a downloaded browser); skipped when absent.
The store holds two recorded mainnet blocks; further blocks are driven through the bus.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.replay import ReplaySource
from onchain.storage.store import Store
from tests.integration.api.conftest import LocalRuntime, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
PAIR = "ethereum:0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"
FIRST = 17173051

async_api = pytest.importorskip("playwright.async_api")
expect = async_api.expect
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium not installed (make browser)", allow_module_level=True)


@pytest.fixture
async def dashboard(chaindata: Path, tmp_path: Path) -> AsyncIterator[tuple[LocalRuntime, str]]:
    runtime = LocalRuntime(await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'dash.db'}"), MemoryBus())
    source = ReplaySource(chaindata / "ethereum-etl-17173049")
    try:
        await Pipeline("ethereum", source, Decoder("ethereum"), runtime.store, runtime.bus, allow_gaps=True).run(
            17173049, 17173050
        )
    finally:
        await source.close()
    market = MarketService(runtime.store)
    await market.rebuild()
    app = create_app(Settings(data_dir=tmp_path), runtime, market=market)
    try:
        async with serving(app) as address:
            yield runtime, f"http://{address}/"
    finally:
        await runtime.bus.close()
        await runtime.store.close()


async def drive_block(runtime: LocalRuntime, number: int) -> None:
    """One block's worth of updates, as the pipeline and the market service publish them."""
    step = number - FIRST
    timestamp = 1683030011 + 12 * (step + 1)
    price = 1830.0 + 3.5 * step
    await runtime.bus.publish("blocks", {"chain": "ethereum", "number": number, "hash": f"0x{number:064x}",
                                         "parent_hash": f"0x{number - 1:064x}", "timestamp": timestamp,
                                         "logs": 300, "events": 120})
    await runtime.bus.publish("prices", {"id": WETH, "value": price, "timestamp": timestamp, "change24h": 0.1 * step,
                                         "block": number, "chain": "ethereum"})
    await runtime.bus.publish("tvl", {"id": "uniswap-v2", "value": 52_000_000.0 + 250_000 * step,
                                      "timestamp": timestamp, "change24h": 0.2, "block": number})
    await runtime.bus.publish("volumes", {"id": "uniswap-v2", "value": 9_000_000.0 + 40_000 * step,
                                          "timestamp": timestamp, "change24h": None, "block": number})
    await runtime.bus.publish("events", {"chain": "ethereum", "from_block": number, "to_block": number, "events": [{
        "chain": "ethereum", "block_number": number, "block_hash": f"0x{number:064x}",
        "transaction_hash": f"0x{number:064x}", "transaction_index": 0, "log_index": 3,
        "address": PAIR.split(":")[1], "family": "uniswap_v2", "name": "Swap", "kind": "uniswap_v2.Swap",
        "protocol": "uniswap-v2", "args": {"sender": "0x" + "1" * 40, "to": "0x" + "2" * 40,
                                           "amount0In": 10**18 + step, "amount1In": 0, "amount0Out": 0,
                                           "amount1Out": int(price * 10**6)},
    }]})


async def text_of(page: Any, selector: str) -> str:
    return str(await page.text_content(selector))


async def test_dashboard_values_move_as_blocks_arrive(dashboard: Any, tmp_path: Path) -> None:
    runtime, url = dashboard
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(url)
            # Waits go through locators: the page's CSP (rightly) forbids evaluating strings in it.
            await expect(page.locator("#conn")).to_have_text("live", timeout=15_000)
            # The recorded blocks are on screen before anything new arrives.
            await expect(page.locator("#head-block")).to_have_text("17173050")
            assert "Uniswap V2" in await text_of(page, "#protocols")
            before = {s: await text_of(page, s) for s in ("#price-main", "#total-tvl", "#total-volume")}

            seen = []
            for number in range(FIRST, FIRST + 12):
                await drive_block(runtime, number)
                await expect(page.locator("#head-block")).to_have_text(str(number), timeout=10_000)
                seen.append(await text_of(page, "#price-main"))
                await asyncio.sleep(0.05)
            after = {s: await text_of(page, s) for s in before}

            assert all(after[s] != before[s] for s in before), (before, after)
            assert len(set(seen)) >= 6  # the price changed block after block
            assert await page.locator("#swaps tbody tr").count() >= 10
            assert "WETH/USDT" in await text_of(page, "#swaps")
            for chart in ("#chart-tvl", "#chart-price", "#chart-volume"):
                assert await page.locator(f"{chart} canvas").count() == 1
            shot = tmp_path / "dashboard.png"  # kept under the pytest tmp dir for a person to look at
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert errors == []
        finally:
            await browser.close()
