"""Recorded mainnet blocks known for MEV, inspected once per test session."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from onchain.analytics.mev import BlockMev, inspect_recorded_block


@cache
def _inspect(folder: Path, number: int) -> BlockMev:
    return inspect_recorded_block(json.loads((folder / f"{number}.json").read_text()))


@pytest.fixture(scope="session")
def mev_blocks(chaindata: Path) -> Path:
    return chaindata / "mev-inspect-blocks"


@pytest.fixture(scope="session")
def inspected(mev_blocks: Path) -> Callable[[int], BlockMev]:
    """`inspected(N)`: the MEV found in recorded block N (parsed and inspected at most once)."""
    return lambda number: _inspect(mev_blocks, number)
