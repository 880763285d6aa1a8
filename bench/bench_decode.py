"""Decoder throughput against web3.py's `contract.events.X().process_log`, on the same real logs.

Input: the 681 mainnet logs of blocks 17173049-17173050 (ethereum-etl export). Both sides decode the
logs our registry has a spec for; web3.py gets each log already converted to its own input types
(HexBytes, checksum address) outside the timed loop, so its figure is a best case.
Run: `.venv/bin/python -m bench.bench_decode`.
"""

from __future__ import annotations

import json
import os
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


def best_rate(run: Callable[[], object], count: int, min_seconds: float = 0.4, repeats: int = 3) -> float:
    """Items per second of the fastest of `repeats` timed batches, each at least `min_seconds` long."""
    rounds = 1
    while True:
        start = time.perf_counter()
        for _ in range(rounds):
            run()
        if time.perf_counter() - start >= min_seconds / 4:
            break
        rounds *= 2
    rounds = max(1, int(rounds * min_seconds / max(time.perf_counter() - start, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            run()
        best = min(best, time.perf_counter() - start)
    return rounds * count / best


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
    ours_rate = best_rate(ours_same, len(same_logs))
    ours_all_rate = best_rate(ours_all, len(logs))
    web3_rate = best_rate(web3_same, len(same_logs), min_seconds=1.0)
    kinds = Counter(e.kind for e in events)

    print(f"logs: {len(logs)} recorded, {len(same_logs)} decodable by both ({dict(sorted(kinds.items()))})")
    print(f"onchain Decoder, decodable logs : {ours_rate:>12,.0f} logs/s")
    print(f"onchain Decoder, all 681 logs   : {ours_all_rate:>12,.0f} logs/s")
    print(f"web3.py process_log, same logs  : {web3_rate:>12,.0f} logs/s")
    print(f"ratio (onchain / web3.py)       : {ours_rate / web3_rate:>12,.1f}x  (goal >= 100x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
