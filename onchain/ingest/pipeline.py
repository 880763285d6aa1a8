"""The ingest pipeline: one path for backfill, replay and live head following.

Bundles from a source are checked, decoded and written in batches, each batch in one transaction that
also advances the chain's cursor; messages are published only after the commit. Batches grow while the
source is ahead of us (backfill) and shrink to one block at the head, where latency matters.

Before block N is written its parent hash is compared with the stored hash of N-1. On a mismatch the
pipeline walks back to the common ancestor, rolls back everything above it, publishes `reorg`, and
re-ingests from the ancestor's child.

A pipeline given a `Backoff` (`retry_storage`, as `onchain serve` runs it) survives the database going
away: a failed write or read is retried from the block after the last committed one, with capped backoff
and one log line when the outage starts and one when it ends. Rows of a block are replaced when it is
written again, so a batch whose commit did land before the error reached us is not doubled either.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import operator
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from onchain.bus.base import Bus, BusError
from onchain.domain.chain import BlockBundle
from onchain.domain.topics import BLOCKS, EVENTS, REORG, Reorg
from onchain.errors import InconsistentDataError, StorageError
from onchain.ingest.gc_tuning import BOUNDED_YOUNG_GENERATION, YOUNG_GENERATION, fewer_collections
from onchain.ingest.messages import block_payload, events_payloads
from onchain.ingest.reorg import check_depth, common_ancestor, extends, validate_bundle
from onchain.ingest.stats import BlockTally, IngestStats
from onchain.outage import Backoff, OutageLog
from onchain.protocols.base import PoolInfo
from onchain.protocols.registry import Decoder
from onchain.protocols.tokens import TokenDirectory
from onchain.sources.base import Source
from onchain.storage.records import BlockWrite, PoolRecord, PreparedBlocks, TokenRecord
from onchain.storage.store import Store

log = logging.getLogger(__name__)
_FAMILY_AND_NAME = operator.attrgetter("family", "name")
_PROTOCOL = operator.attrgetter("protocol")


class _End:
    """Marks the end of a finite source."""


_END = _End()


def _inside(number: int, start: int, end: int | None) -> bool:
    return start <= number and (end is None or number <= end)


class Pipeline:
    """Moves one chain's blocks from `source` through `decoder` into `store`, then announces them on `bus`.

    A source must deliver consecutive blocks; `allow_gaps` accepts ascending blocks with gaps (recordings
    of selected blocks). Batches hold up to `batch_blocks` blocks or `batch_logs` logs; in a backfill a
    batch waits up to `batch_delay` seconds to fill, at the head it is committed at once. `after_commit`
    is awaited with each committed batch (bundles with their traces, and decoded events) before another
    is written, so work derived from whole bundles (MEV detection) stays in step with reorg rollbacks.
    A long load (`defer_indexes_from` blocks or more, bounded) runs inside `Store.bulk_load`; where the
    store then writes beside us (SQLite's loader process), batches of `overlap_batch_logs` are decoded
    while the one before commits. With `retry_storage`, a StorageError does not end the run (see the module
    docstring) unless it happens during such a load, whose loader process does not outlive a failure.
    """

    def __init__(
        self,
        chain: str,
        source: Source,
        decoder: Decoder,
        store: Store,
        bus: Bus,
        *,
        tokens: TokenDirectory | None = None,
        batch_blocks: int = 1000,
        batch_logs: int = 100_000,
        overlap_batch_logs: int = 20_000,
        batch_delay: float = 0.25,
        prefetch: int = 2000,
        defer_indexes_from: int = 500,
        max_reorg_depth: int = 128,
        allow_gaps: bool = False,
        events_per_message: int = 5000,
        on_commit: Callable[[IngestStats], None] | None = None,
        after_commit: Callable[[Sequence[BlockWrite]], Awaitable[None]] | None = None,
        retry_storage: Backoff | None = None,
    ) -> None:
        self.chain = chain
        self.source = source
        self.decoder = decoder
        self.store = store
        self.bus = bus
        self.tokens = tokens
        self.batch_blocks = batch_blocks
        self.batch_logs = batch_logs
        self.overlap_batch_logs = overlap_batch_logs
        self.batch_delay = batch_delay
        self.prefetch = prefetch
        self.defer_indexes_from = defer_indexes_from
        self.max_reorg_depth = max_reorg_depth
        self.allow_gaps = allow_gaps
        self.events_per_message = events_per_message
        self.on_commit = on_commit
        self.after_commit = after_commit
        self.retry_storage = retry_storage
        self.storing = OutageLog(log, f"ingest of {chain}")
        self.stats = IngestStats()
        self._head = -1
        self._recent: deque[BlockTally] = deque(maxlen=max_reorg_depth + batch_blocks)
        self._pool_blocks: dict[str, int] = {}
        self._stalls = 0
        self._permanent_pools: frozenset[str] | None = None
        # While the store writes beside us (`Store.bulk_load`), the batch being committed and its announcements.
        self._overlap = False
        self._committing: asyncio.Task[None] | None = None
        # Where this run last left the cursor (a commit or a reorg rollback), and a committed batch whose
        # `after_commit` has not completed.
        self._committed: int | None = None
        self._unfinished: list[BlockWrite] | None = None

    async def run(self, start: int | None = None, end: int | None = None, *, resume: bool = True) -> IngestStats:
        """Ingest blocks `start..end` (inclusive; `end=None` follows the head forever).

        With `resume`, a stored cursor inside the range moves the start past it, so a restarted run
        continues after the last committed block. `start=None` means: after the cursor, else the head.
        """
        await self._prime_decoder()
        cursor = await self.store.cursor(self.chain)
        if start is None:
            start = cursor.block_number + 1 if cursor is not None else await self.source.head()
        elif resume and cursor is not None and _inside(cursor.block_number, start, end):
            log.info("%s: resuming after block %d", self.chain, cursor.block_number)
            start = cursor.block_number + 1
        if end is not None and start > end:
            return self.stats
        self._head = await self.source.head()
        next_start: int | None = start
        loading: contextlib.AbstractAsyncContextManager[bool] = contextlib.nullcontext(False)
        if await self._long_load(start, end):
            loading = self.store.bulk_load()
        with fewer_collections(YOUNG_GENERATION if end is None else BOUNDED_YOUNG_GENERATION):
            async with loading as self._overlap:
                try:
                    while next_start is not None:
                        try:
                            await self._finish_unfinished()
                            next_start = await self._pass(next_start, end)
                        except StorageError as exc:
                            if self.retry_storage is None or self._overlap:
                                raise
                            next_start = await self._after_storage_failure(exc, start)
                finally:
                    self._overlap = False
        return self.stats

    async def _after_storage_failure(self, exc: StorageError, start: int) -> int:
        """Wait out a failed database access; returns the block to go on from: the one after the last this
        run committed (the cursor, unless a reorg rolled it back since), else where the run started.

        Blocks decoded but not committed are forgotten (their pools and counts) so they are decoded anew;
        a committed batch whose `after_commit` (MEV findings) failed has it run again first.
        """
        assert self.retry_storage is not None
        self.storing.failed(exc)
        resume = start if self._committed is None else self._committed + 1
        self._forget_above(resume - 1)
        await asyncio.sleep(self.retry_storage.delay())
        return resume

    async def _finish_unfinished(self) -> None:
        """Run `after_commit` for the committed batch it failed on, if any, before going on."""
        if self._unfinished is not None and self.after_commit is not None:
            await self.after_commit(self._unfinished)
        self._unfinished = None

    async def _long_load(self, start: int, end: int | None) -> bool:
        """A bounded range of at least `defer_indexes_from` blocks into a store holding fewer events than
        ~30 per block of it: building the lookup indexes once afterwards then costs less than keeping
        them up to date (about 1 us per stored event against 4-5 us per new one)."""
        if end is None or end - start + 1 < self.defer_indexes_from:
            return False
        return await self.store.holds_fewer_events_than(30 * (end - start + 1))

    async def _prime_decoder(self) -> None:
        """Teach the decoder the pools stored by earlier runs, so attribution survives restarts."""
        known = self.decoder.pools
        if self._permanent_pools is None:
            # Pools the decoder knew before any block (shipped lists, config) are never forgotten on a reorg.
            self._permanent_pools = frozenset(known.pools)
        for pool in await self.store.pools(self.chain):
            if pool.created_block is not None:
                self._pool_blocks[pool.address] = pool.created_block
            if pool.protocol is not None and pool.address not in known:
                known.add(
                    PoolInfo(
                        pool.address, pool.chain, pool.protocol, pool.family, pool.token0, pool.token1,
                        pool.fee, pool.factory or "",
                    )
                )

    async def _pass(self, start: int, end: int | None) -> int | None:
        """Ingest from `start` until the source ends (None) or a reorg asks to restart at a block."""
        queue: asyncio.Queue[BlockBundle | _End | BaseException] = asyncio.Queue(self.prefetch)
        producer = asyncio.create_task(self._produce(start, end, queue), name=f"ingest-source-{self.chain}")
        try:
            return await self._consume(start, queue)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            await self._settle()

    async def _produce(
        self, start: int, end: int | None, queue: asyncio.Queue[BlockBundle | _End | BaseException]
    ) -> None:
        bundles = self.source.bundles(start, end)
        try:
            async for bundle in bundles:
                await queue.put(bundle)
            await queue.put(_END)
        except Exception as exc:  # handed to the consumer, which raises it after committing what came before
            await queue.put(exc)
        finally:
            close = getattr(bundles, "aclose", None)
            if close is not None:
                await close()

    async def _consume(self, start: int, queue: asyncio.Queue[BlockBundle | _End | BaseException]) -> int | None:
        number = start
        parent = await self.store.block_hash(self.chain, start - 1)
        batch: list[BlockWrite] = []
        batch_logs = 0
        started = 0.0
        # Beside a store writing on its own core, smaller batches keep both sides busy more of the time.
        limit = self.overlap_batch_logs if self._overlap else self.batch_logs
        while True:
            if batch and (len(batch) >= self.batch_blocks or batch_logs >= limit):
                await self._flush(batch)
                batch, batch_logs = [], 0
                continue
            if not batch:
                item = await queue.get()
            elif not queue.empty():
                item = queue.get_nowait()
            else:
                # Nothing ready: at the head, commit now; in a backfill, wait a little for a bigger batch.
                remaining = self.batch_delay - (time.monotonic() - started)
                if number > self._head or remaining <= 0:
                    await self._flush(batch)
                    batch, batch_logs = [], 0
                    continue
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    continue
            if isinstance(item, _End):
                await self._flush(batch, wait=True)
                return None
            if isinstance(item, BaseException):
                await self._flush(batch, wait=True)
                raise item
            if self.allow_gaps and item.block.number > number:
                # A recording with gaps: the block below this one is whatever is stored, if anything.
                number = item.block.number
                parent = await self.store.block_hash(self.chain, number - 1)
            try:
                validate_bundle(item, self.chain, number)
            except Exception:
                await self._flush(batch, wait=True)
                raise
            if not extends(item.block.parent_hash, parent):
                await self._flush(batch, wait=True)
                return await self._handle_reorg(number - 1, item.block.parent_hash)
            if not batch:
                started = time.monotonic()
            batch.append(self._decode(item))
            batch_logs += len(item.logs)
            parent = item.block.hash
            number += 1
            if number > self._head:
                self._head = max(self._head, await self.source.head())

    def _decode(self, bundle: BlockBundle) -> BlockWrite:
        result = self.decoder.decode(bundle.logs)
        number = bundle.block.number
        pools = [
            PoolRecord(self.chain, p.address, p.family, p.token0, p.token1, p.protocol, p.fee, p.factory, number)
            for p in result.new_pools
        ]
        for pool in pools:
            self._pool_blocks[pool.address] = number
        # Counted in C (Counter over attribute getters), then named: a block holds hundreds of events, few kinds.
        pairs = Counter(map(_FAMILY_AND_NAME, result.events))
        kinds = Counter({f"{family}.{name}": count for (family, name), count in pairs.items()})
        protocols: Counter[str] = Counter(filter(None, map(_PROTOCOL, result.events)))
        self._recent.append(BlockTally(number, len(bundle.logs), kinds, protocols))
        stats = self.stats
        stats.blocks += 1
        stats.logs += len(bundle.logs)
        stats.events.update(kinds)
        stats.protocols.update(protocols)
        stats.skipped.update(result.skipped)
        stats.pools += len(pools)
        stats.first_block = number if stats.first_block is None else stats.first_block
        stats.last_block = number
        return BlockWrite(bundle, result.events, pools)

    def _token_records(self, batch: Sequence[BlockWrite]) -> list[TokenRecord]:
        if self.tokens is None:
            return []
        found: dict[str, TokenRecord] = {}
        for write in batch:
            for pool in write.pools:
                for address in (pool.token0, pool.token1):
                    info = self.tokens.get(self.chain, address)
                    if info is not None:
                        found[info.address] = TokenRecord(self.chain, info.address, info.symbol, info.decimals)
        return list(found.values())

    async def _flush(self, batch: list[BlockWrite], *, wait: bool = False) -> None:
        """Commit `batch` after the one before it, in order, announcing each after its commit.

        Beside a `bulk_load` store the batch is turned into rows while the one before still commits, and
        its own commit runs on while the caller decodes the next (unless `wait`).
        """
        if not batch:
            await self._settle()
            return
        if not self._overlap:
            await self._settle()
            await self._commit(batch, self.store.prepare_blocks(batch, self._token_records(batch)), self.stats)
            return
        prepared = self.store.prepare_blocks(batch, self._token_records(batch))
        await self._settle()
        commit = self._commit(batch, prepared, copy.copy(self.stats))
        if wait:
            await commit
        else:
            self._committing = asyncio.create_task(commit, name=f"ingest-commit-{self.chain}")
            await asyncio.sleep(0)  # let it hand the batch over now: decoding the next one runs without a pause

    async def _settle(self) -> None:
        """Wait for the batch being committed beside us, if any; its failure is raised here."""
        committing, self._committing = self._committing, None
        if committing is not None:
            await committing

    async def _commit(self, batch: list[BlockWrite], prepared: PreparedBlocks, stats: IngestStats) -> None:
        await self.store.commit_blocks(prepared)
        self._committed = prepared.numbers[-1]
        self.storing.succeeded()
        if self.retry_storage is not None:
            self.retry_storage.reset()
        if self.bus.may_have_subscribers(BLOCKS):
            for write in batch:
                await self._publish(BLOCKS, block_payload(write))
        if self.bus.may_have_subscribers(EVENTS):
            for payload in events_payloads(self.chain, batch, self.events_per_message):
                await self._publish(EVENTS, payload)
        if self.after_commit is not None:
            self._unfinished = batch
            await self.after_commit(batch)
            self._unfinished = None
        if self.on_commit is not None:
            self.on_commit(stats)

    async def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Publishing never stops ingestion: the data is committed, and the bus is at-most-once."""
        try:
            await self.bus.publish(topic, payload)
        except (BusError, OSError) as exc:
            self.stats.publish_failures += 1
            log.warning("%s: publishing %s failed: %s", self.chain, topic, exc)

    async def _handle_reorg(self, tip: int, new_parent: str) -> int:
        """Block `tip + 1` does not extend our block `tip`: roll back to the common ancestor; returns where to
        resume."""
        ancestor = await self._find_ancestor(tip)
        if ancestor == tip:
            # The source still calls our block canonical yet delivered a child of another: it contradicts itself.
            self._stalls += 1
            if self._stalls > 3:
                raise InconsistentDataError(
                    f"{self.chain}: block {tip + 1} has parent {new_parent}, but the source says block {tip} is "
                    f"{await self.store.block_hash(self.chain, tip)}"
                )
            await asyncio.sleep(0.1 * self._stalls)
            return tip + 1
        self._stalls = 0
        cursor = await self.store.rollback_after(self.chain, ancestor)
        self._committed = ancestor
        self._forget_above(ancestor)
        stats = self.stats
        stats.reorgs += 1
        stats.orphaned_blocks += tip - ancestor
        log.warning("%s: reorg, blocks %d..%d orphaned; resuming at %d", self.chain, ancestor + 1, tip, ancestor + 1)
        ancestor_hash = cursor.block_hash if cursor is not None else None
        reorg = Reorg(chain=self.chain, ancestor=ancestor, ancestor_hash=ancestor_hash, orphaned_from=ancestor + 1,
                      orphaned_to=tip)
        await self._publish(REORG, reorg.encode())
        return ancestor + 1

    def _forget_above(self, number: int) -> None:
        """Drop what decoding blocks above `number` taught us (new pools) and counted (stats): they are
        orphaned by a reorg, or were never committed and come again."""
        for address, created in list(self._pool_blocks.items()):
            if created > number:
                del self._pool_blocks[address]
                if address not in (self._permanent_pools or ()):
                    self.decoder.pools.pools.pop(address, None)
        stats = self.stats
        while self._recent and self._recent[-1].number > number:
            tally = self._recent.pop()
            stats.blocks -= 1
            stats.logs -= tally.logs
            stats.events.subtract(tally.events)
            stats.protocols.subtract(tally.protocols)
        stats.events = +stats.events
        stats.protocols = +stats.protocols
        if stats.last_block is not None and stats.last_block > number:
            stats.last_block = number

    async def _find_ancestor(self, tip: int) -> int:
        stored = await self.store.block_hashes(self.chain, max(0, tip - self.max_reorg_depth + 1), tip)
        canonical: dict[int, str | None] = {}
        low = tip
        while True:
            check_depth(tip, low, self.max_reorg_depth)
            numbers = [n for n in range(low, max(low - 8, tip - self.max_reorg_depth, -1), -1)]
            hashes = await asyncio.gather(*(self.source.block_hash(n) for n in numbers))
            canonical.update(zip(numbers, hashes, strict=True))
            found = common_ancestor(stored, canonical, tip)
            if found is not None:
                return found
            if not numbers or numbers[-1] <= 0:
                return -1
            low = numbers[-1] - 1
