"""Wiring of one process: the store and bus named by settings, and ingest pipelines built on them.

`serve`, `demo`, `replay` and `ingest` all go through `Runtime`, so every path shares the same
decode -> store -> publish code, and MEV detection on every committed block (`runtime.mev`).
The API reads `runtime.store` and `runtime.bus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from onchain.analytics.mev.service import MevService
from onchain.bus.base import Bus
from onchain.bus.memory import MemoryBus
from onchain.bus.redis import RedisBus
from onchain.chains.registry import ChainInfo, ChainRegistry
from onchain.config import Settings
from onchain.errors import ConfigError, StorageError
from onchain.ingest.pipeline import Pipeline
from onchain.ingest.stats import IngestStats
from onchain.outage import Backoff, OutageLog
from onchain.protocols.base import PoolDirectory
from onchain.protocols.registry import Decoder
from onchain.protocols.tokens import TokenDirectory
from onchain.sources.base import Source
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.rpc import RpcSource
from onchain.storage.records import PoolRecord, TokenRecord
from onchain.storage.store import Store

log = logging.getLogger(__name__)


def open_bus(settings: Settings) -> Bus:
    """Redis pub/sub when `ONCHAIN_REDIS_URL` is set, else the in-process bus."""
    if settings.redis_url:
        return RedisBus.from_url(settings.redis_url, settings.redis_prefix)
    return MemoryBus()


def rpc_source(chain: ChainInfo, **options: Any) -> RpcSource:
    """A live source over the chain's configured endpoints (failover across all of them)."""
    if not chain.rpc_urls:
        raise ConfigError(f"no RPC endpoint for {chain.slug}: set {chain.env_prefix}_RPC_URLS")
    client = JsonRpcClient(list(chain.rpc_urls))
    options.setdefault("traces", True)  # for MEV from call traces; nodes without trace_block fall back to logs
    return RpcSource(chain.slug, client, ws_url=chain.ws_urls[0] if chain.ws_urls else None, **options)


class Runtime:
    """The edges of one process. Open with `await Runtime.open(settings)`; close when done."""

    def __init__(self, settings: Settings, store: Store, bus: Bus, chains: ChainRegistry | None = None) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.chains = chains if chains is not None else ChainRegistry.load(settings)
        self.tokens = TokenDirectory.default()
        self.mev = MevService(store, bus)
        self._tasks: set[asyncio.Task[IngestStats]] = set()
        self.ingesting: dict[str, Pipeline] = {}
        self._stopped: set[str] = set()

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        store = await Store.open(settings.resolved_database_url)
        return cls(settings, store, open_bus(settings))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.bus.close()
        await self.store.close()

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def prepare_chain(self, chain: str) -> Decoder:
        """A decoder for `chain` with its shipped and configured pools, recorded in the store too
        (as pools no reorg removes) so readers see the same pools the decoder attributes by."""
        decoder = Decoder(chain, PoolDirectory.default(chain), self.settings.factories)
        pools = list(decoder.pools)
        await self.store.upsert_pools(
            PoolRecord(chain, p.address, p.family, p.token0, p.token1, p.protocol, p.fee, p.factory or None)
            for p in pools
        )
        known = {token.address for token in await self.store.tokens(chain)}
        found = {}
        for pool in pools:
            for address in (pool.token0, pool.token1):
                info = self.tokens.get(chain, address)
                if info is not None and info.address not in known:
                    found[info.address] = TokenRecord(chain, info.address, info.symbol, info.decimals)
        await self.store.upsert_tokens(found.values())
        if chain in self.chains:
            await self.store.set_chain_id(chain, self.chains.get(chain).chain_id)
        return decoder

    async def pipeline(self, source: Source, **options: Any) -> Pipeline:
        """A pipeline from `source` into this runtime's store and bus (options as `Pipeline` takes), with MEV
        detection on each committed batch unless `after_commit` is given."""
        options.setdefault("after_commit", self.mev.committed)
        decoder = await self.prepare_chain(source.chain)
        return Pipeline(source.chain, source, decoder, self.store, self.bus, tokens=self.tokens, **options)

    def live_source(self, chain: str) -> RpcSource:
        """The RPC source of a registry chain (UnknownChainError if the registry does not have it)."""
        return rpc_source(self.chains.get(chain))

    def start_ingest(
        self, source: Source, start: int | None = None, end: int | None = None
    ) -> asyncio.Task[IngestStats]:
        """Run a pipeline in the background (serve, demo); `close()` cancels it.

        The database going away does not end it: the pipeline retries from its last committed block (see
        `Pipeline`), and setting it up (its pools, its cursor) is retried too, each with capped backoff and
        one log line per outage. Any other failure ends it, logged with its traceback.
        """
        chain = source.chain
        backoff = Backoff()

        async def run() -> IngestStats:
            try:
                pipeline = await self._set_up_ingest(source, backoff)
                self._stopped.discard(chain)
                self.ingesting[chain] = pipeline
                while True:
                    try:
                        return await pipeline.run(start, end)
                    except StorageError as exc:  # reading its cursor before the first block: nothing was written
                        pipeline.storing.failed(exc)
                        await asyncio.sleep(backoff.delay())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ingest of %s stopped", chain)
                self._stopped.add(chain)
                raise
            finally:
                self.ingesting.pop(chain, None)
                await source.close()

        task = asyncio.create_task(run(), name=f"ingest-{chain}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _set_up_ingest(self, source: Source, backoff: Backoff) -> Pipeline:
        setting_up = OutageLog(log, f"setting up ingest of {source.chain}")
        while True:
            try:
                pipeline = await self.pipeline(source, retry_storage=backoff)
            except StorageError as exc:
                setting_up.failed(exc)
                await asyncio.sleep(backoff.delay())
                continue
            setting_up.succeeded()
            return pipeline

    def ingest_states(self) -> dict[str, str]:
        """Chains whose background ingest is not following, for /health: `stalled` while it waits for the
        database, `stopped` once it failed for good."""
        states = {chain: "stopped" for chain in self._stopped}
        states.update({chain: "stalled" for chain, pipeline in self.ingesting.items() if pipeline.storing.failing})
        return states
