"""Decoder throughput against web3.py's `contract.events.X().process_log`, on the same real logs.

Input: the 681 mainnet logs of blocks 17173049-17173050 (ethereum-etl export). Both sides decode the
logs our registry has a spec for; web3.py gets each log already converted to its own input types
(HexBytes, checksum address) outside the timed loop, so its figure is a best case. Each figure is the
median of `RUNS` timed batches (each at least a fixed time long), the three measured in turn per run so
a busy neighbour slows all alike; the ratio is the median of the per-run ratios.
Run: `.venv/bin/python -m bench.bench_decode`.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onchain.domain.chain import Log
from onchain.protocols import aave_v3, chainlink, erc20, uniswap_v2, uniswap_v3, weth
from onchain.protocols.registry import Decoder

ROOT = Path(__file__).resolve().parents[1]
CHAINDATA = Path(os.environ.get("ONCHAIN_CHAINDATA", ROOT.parent / "shared" / "chaindata"))
LOGS = CHAINDATA / "ethereum-etl-17173049" / "logs.json"
ABIS: dict[str, list[dict[str, Any]]] = {
    "erc20": erc20.ABI,
    "weth": weth.ABI,
    "uniswap_v2": uniswap_v2.ABI,
    "uniswap_v3": uniswap_v3.ABI,
    "chainlink": chainlink.ABI,
    "aave_v3": aave_v3.ABI,
}


def load_logs(path: Path) -> list[Log]:
    logs = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("type", "log") != "log":
            continue
        logs.append(
            Log(
                block_number=int(row["block_number"]),
                block_hash=row["block_hash"],
                transaction_hash=row["transaction_hash"],
                transaction_index=int(row["transaction_index"]),
                log_index=int(row["log_index"]),
                address=row["address"].lower(),
                topics=tuple(t.lower() for t in row["topics"]),
                data=row["data"].lower(),
            )
        )
    return logs


RUNS = 5


def calibrate(run: Callable[[], object], min_seconds: float) -> int:
    """How many calls of `run` take about `min_seconds`."""
    rounds = 1
    while True:
        start = time.perf_counter()
        for _ in range(rounds):
            run()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds / 4:
            return max(1, int(rounds * min_seconds / max(elapsed, 1e-9)))
        rounds *= 2


def rate(run: Callable[[], object], rounds: int, count: int) -> float:
    """Items per second over `rounds` calls of `run`."""
    start = time.perf_counter()
    for _ in range(rounds):
        run()
    return rounds * count / (time.perf_counter() - start)


def main() -> int:
    if not LOGS.is_file():
        print(f"recorded logs not found at {LOGS}; set ONCHAIN_CHAINDATA", file=sys.stderr)
        return 1
    from hexbytes import HexBytes
    from web3 import Web3

    logs = load_logs(LOGS)
    decoder = Decoder("ethereum")
    events = decoder.decode(logs).events
    decoded_ids = {(e.transaction_hash, e.log_index) for e in events}
    same_logs = [log for log in logs if (log.transaction_hash, log.log_index) in decoded_ids]

    w3 = Web3()
    contracts = {family: w3.eth.contract(abi=abi) for family, abi in ABIS.items()}
    web3_inputs = []
    for event, log in zip(events, same_logs, strict=True):
        processor = getattr(contracts[event.family].events, event.name)()
        raw = {
            "address": Web3.to_checksum_address(log.address),
            "topics": [HexBytes(t) for t in log.topics],
            "data": HexBytes(log.data),
            "logIndex": log.log_index,
            "transactionIndex": log.transaction_index,
            "transactionHash": HexBytes(log.transaction_hash),
            "blockHash": HexBytes(log.block_hash),
            "blockNumber": log.block_number,
        }
        web3_inputs.append((processor, raw))
    for (processor, raw), event in zip(web3_inputs, events, strict=True):
        decoded = processor.process_log(raw)["args"]
        if len(decoded) != len(event.args):
            print(f"argument mismatch on {event.kind}", file=sys.stderr)
            return 1

    def ours_same() -> None:
        Decoder.decode(decoder, same_logs)

    def ours_all() -> None:
        Decoder.decode(decoder, logs)

    def web3_same() -> None:
        for processor, raw in web3_inputs:
            processor.process_log(raw)

    # One decoder for every run: these blocks hold no factory events, so its pool directory does not
    # change between runs, and the figure is decoding alone (not loading the shipped pool lists).
    plan = [
        (ours_same, calibrate(ours_same, 0.3), len(same_logs)),
        (ours_all, calibrate(ours_all, 0.3), len(logs)),
        (web3_same, calibrate(web3_same, 0.6), len(same_logs)),
    ]
    runs = [[rate(run, rounds, count) for run, rounds, count in plan] for _ in range(RUNS)]
    ours_rate, ours_all_rate, web3_rate = (statistics.median(column) for column in zip(*runs, strict=True))
    ratio = statistics.median(ours / web3 for ours, _, web3 in runs)
    kinds = Counter(e.kind for e in events)

    print(f"logs: {len(logs)} recorded, {len(same_logs)} decodable by both ({dict(sorted(kinds.items()))})")
    print(f"median of {RUNS} runs                       logs/s")
    print(f"onchain Decoder, decodable logs : {ours_rate:>12,.0f}")
    print(f"onchain Decoder, all {len(logs)} logs   : {ours_all_rate:>12,.0f}")
    print(f"web3.py process_log, same logs  : {web3_rate:>12,.0f}")
    print(f"ratio (onchain / web3.py)       : {ratio:>12,.1f}x  (goal >= 100x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
