"""A fresh anvil devnet per test, with the platform's contracts deployed; skipped without `make install`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from onchain.devnet.anvil import find_anvil
from onchain.devnet.deployment import ARTIFACTS, Devnet


def _require_tools() -> None:
    if find_anvil() is None:
        pytest.skip("anvil not installed (node_modules/.bin/anvil); run `make install`")
    if not (ARTIFACTS / "PriceFeed.json").exists():
        pytest.skip("devnet contracts not compiled (build/contracts); run `make install`")


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    """Automine: every transaction is its own block, mined as soon as it is sent."""
    _require_tools()
    async with Devnet(mining="auto") as net:
        yield net


@pytest.fixture
async def manual_devnet() -> AsyncIterator[Devnet]:
    """Blocks only when the test (or the traffic generator) mines one."""
    _require_tools()
    async with Devnet(mining="manual") as net:
        yield net
