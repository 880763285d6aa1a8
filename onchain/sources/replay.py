"""The replay source: recorded real chain data served by a local JSON-RPC server and read back
through the same client and parser as a live node, so replay tests the real path end to end.

`ReplaySource(path)` accepts ethereum-etl export folders, mev-inspect block files and recorded
request/response pairs (see `replay_data`). It yields the recorded blocks in order and ends at
the last one. `read_bundles(path)` gives the same bundles without a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from onchain.domain.chain import BlockBundle
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.parse import build_bundle
from onchain.sources.replay_data import RecordedChain, load_recording
from onchain.sources.replay_server import ReplayServer, serve_app
from onchain.sources.rpc import RpcSource

__all__ = ["RecordedChain", "ReplayServer", "ReplaySource", "load_recording", "read_bundles", "serve_app"]


def read_bundles(path: str | Path | Iterable[str | Path], chain: str = "ethereum") -> list[BlockBundle]:
    """Every replayable recorded block as a bundle, parsed exactly as answers from a node would be."""
    recorded = load_recording(path)
    return [
        build_bundle(
            chain,
            recorded.blocks[number],
            receipts=recorded.receipts[number],
            traces=recorded.traces.get(number),
            receipts_have_logs=number not in recorded.logless,
        )
        for number in recorded.numbers
    ]


class ReplaySource:
    """A `Source` over a recording: ReplayServer + JsonRpcClient + RpcSource."""

    def __init__(self, path: str | Path | Iterable[str | Path] | RecordedChain, chain: str = "ethereum",
                 batch_size: int = 10) -> None:
        self.chain = chain
        self.recorded = path if isinstance(path, RecordedChain) else load_recording(
            path if isinstance(path, str | Path) else list(path)
        )
        self.batch_size = batch_size
        self.server = ReplayServer(self.recorded)
        self._source: RpcSource | None = None

    @property
    def numbers(self) -> list[int]:
        """The recorded block numbers this source delivers, in order."""
        return self.recorded.numbers

    async def _started(self) -> RpcSource:
        if self._source is None:
            await self.server.__aenter__()
            client = JsonRpcClient([self.server.url], max_attempts=2, backoff_base=0.05)
            self._source = RpcSource(
                self.chain,
                client,
                use_block_receipts=True,
                traces=bool(self.recorded.traces),
                logs=not self.recorded.logless,
                batch_size=self.batch_size,
            )
        return self._source

    async def head(self) -> int:
        numbers = self.numbers
        return numbers[-1] if numbers else 0

    async def block_hash(self, number: int) -> str | None:
        return await (await self._started()).block_hash(number)

    async def bundles(self, start: int, end: int | None = None) -> AsyncIterator[BlockBundle]:
        """Recorded blocks from `start` to `end` (None: to the last recorded block), gaps skipped."""
        source = await self._started()
        wanted = [n for n in self.numbers if n >= start and (end is None or n <= end)]
        for first in range(0, len(wanted), self.batch_size):
            for bundle in await source.fetch_bundles(wanted[first : first + self.batch_size]):
                yield bundle

    async def close(self) -> None:
        if self._source is not None:
            await self._source.close()
            self._source = None
        await self.server.__aexit__(None, None, None)

    async def __aenter__(self) -> ReplaySource:
        await self._started()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
