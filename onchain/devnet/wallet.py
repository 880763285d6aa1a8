"""Anvil's JSON-RPC as its unlocked accounts use it: view calls, transactions, receipts, mining, snapshots.

Everything is sent with `eth_sendTransaction` from anvil's unlocked default accounts, so no key is ever handled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from eth_abi.abi import decode, encode
from eth_hash.auto import keccak

from onchain.devnet.anvil import Anvil, DevnetError


def selector(signature: str) -> bytes:
    """The 4-byte function selector of a canonical signature like `transfer(address,uint256)`."""
    return keccak(signature.encode())[:4]


def calldata(signature: str, *args: Any) -> str:
    """ABI-encoded call data for `signature` with `args`, as hex."""
    types = signature[signature.index("(") + 1 : -1]
    arg_types = [t for t in types.split(",") if t]
    return "0x" + (selector(signature) + encode(arg_types, list(args))).hex()


class Wallet(Anvil):
    """Anvil with the calls the deployment, the traffic and the tests make through its accounts."""

    async def eth_call(self, to: str, data: str, block: str = "latest") -> bytes:
        result = await self.call("eth_call", [{"to": to, "data": data}, block])
        return bytes.fromhex(result[2:])

    async def read(self, to: str, signature: str, returns: Sequence[str], *args: Any) -> tuple[Any, ...]:
        """A view call decoded with `returns`, e.g. `read(pair, "getReserves()", ["uint112", ...])`."""
        return tuple(decode(list(returns), await self.eth_call(to, calldata(signature, *args))))

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            await self.call("evm_mine")

    async def snapshot(self) -> str:
        """Remember the chain as it is now; `revert` returns to it (and forgets later blocks)."""
        snapshot_id: str = await self.call("evm_snapshot")
        return snapshot_id

    async def revert(self, snapshot_id: str) -> None:
        if not await self.call("evm_revert", [snapshot_id]):
            raise DevnetError(f"evm_revert to snapshot {snapshot_id} refused")

    async def send(self, sender: str, to: str | None, data: str, *, gas: int, value: int = 0) -> str:
        """Submit a transaction from an unlocked account; returns its hash without waiting.

        Gas is always given: estimating against `latest` would fail for a transaction that depends on
        another one still pending in the same block.
        """
        tx: dict[str, str] = {"from": sender, "data": data, "gas": hex(gas)}
        if to is not None:
            tx["to"] = to
        if value:
            tx["value"] = hex(value)
        tx_hash: str = await self.call("eth_sendTransaction", [tx])
        return tx_hash

    async def receipts(
        self, tx_hashes: Sequence[str], *, mine_now: bool | None = None, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Receipts of submitted transactions. `mine_now` mines a block first instead of waiting for the
        next one (default: only when mining is manual, where no block would ever come)."""
        if not tx_hashes:
            return []
        if self.mining == "manual" if mine_now is None else mine_now:
            await self.mine()
        deadline = time.monotonic() + timeout
        while True:
            found = await self.client.batch([("eth_getTransactionReceipt", [h]) for h in tx_hashes])
            if all(found):
                return list(found)
            if time.monotonic() > deadline:
                raise DevnetError(f"{sum(1 for r in found if not r)} transactions not mined within {timeout:g}s")
            await asyncio.sleep(0.02 if self.mining != "interval" else min(0.2, self.block_time / 5))

    async def transact(
        self, calls: Sequence[tuple[str, str | None, str, int, int]], *, mine_now: bool | None = None
    ) -> list[dict[str, Any]]:
        """Send (sender, to, data, gas, value) transactions in order, wait for all, fail on any revert."""
        hashes = [await self.send(sender, to, data, gas=gas, value=value) for sender, to, data, gas, value in calls]
        receipts = await self.receipts(hashes, mine_now=mine_now)
        for receipt in receipts:
            if int(receipt["status"], 16) != 1:
                raise DevnetError(f"devnet transaction {receipt['transactionHash']} reverted")
        return receipts


__all__ = ["Wallet", "calldata", "selector"]
