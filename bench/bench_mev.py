"""Blocks inspected per second for MEV over the 27 recorded mainnet blocks (goal: >= 50 on one core).

Files are read and parsed from JSON once, outside the timing: the figure is the detector's cost
(trace parsing to records, swaps, sandwiches, arbitrages, liquidations), as for a live block that
arrives already decoded from the node.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from onchain.analytics.mev import inspect_recorded_block

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = Path(os.environ.get("ONCHAIN_CHAINDATA", ROOT.parent / "shared" / "chaindata")) / "mev-inspect-blocks"
ROUNDS = 5


def main() -> int:
    files = sorted(BLOCKS.glob("*.json"))
    if not files:
        print(f"no recorded blocks under {BLOCKS}", file=sys.stderr)
        return 1
    blocks: list[dict[str, Any]] = [json.loads(path.read_text()) for path in files]
    traces = sum(len(b["traces"]) for b in blocks)
    found = [inspect_recorded_block(b) for b in blocks]  # warm-up, and the totals printed below
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for block in blocks:
            inspect_recorded_block(block)
        best = min(best, time.perf_counter() - start)
    print(f"blocks: {len(blocks)}  traces: {traces}  best of {ROUNDS} rounds: {best * 1000:.1f} ms")
    print(
        f"found: {sum(len(m.sandwiches) for m in found)} sandwiches, {sum(len(m.arbitrages) for m in found)} "
        f"arbitrages, {sum(len(m.liquidations) for m in found)} liquidations, {sum(len(m.swaps) for m in found)} swaps"
    )
    print(f"mev inspect: {len(blocks) / best:.0f} blocks/s ({traces / best:.0f} traces/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
