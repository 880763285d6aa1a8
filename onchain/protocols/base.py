"""The rows every protocol module exports: event specs, protocol identities, pools.

A protocol family is data, not code paths: an `EventSpec` says which log shape it decodes and how
the decoded event is attributed to a protocol slug; a fork of a family is a new factory row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

#: Decodes one log's topics (hex strings, topic0 included) and raw data bytes into ABI-named args.
#: Raises ValueError (or IndexError) when the log has the right shape but values out of range.
DecodeFn = Callable[[tuple[str, ...], bytes], dict[str, Any]]

#: From a pool-creation event's args: (pool address, token0, token1, fee or None).
CreatedPoolFn = Callable[[dict[str, Any]], tuple[str, str, str, int | None]]


class Attribution(Enum):
    """How an event finds its protocol slug."""

    NONE = "none"  # never attributed (plain ERC-20 transfers)
    FIXED = "fixed"  # always the spec's protocol (the event shape belongs to one protocol)
    CONTRACTS = "contracts"  # the spec's protocol when emitted by one of its known contracts
    POOL = "pool"  # the pool directory's protocol for the emitting pool of the same family
    FACTORY = "factory"  # the protocol of the emitting factory (pool creation events)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event ABI shape: topic0 plus the number of topics and the data size it must have.

    `data_size` is exact for static events; for events with dynamic members (`dynamic=True`) it is
    the minimum (the head) and the data must be whole words. `contracts` (chain -> addresses), when
    set, restricts decoding to those emitters: `Deposit(address,uint256)` is WETH's only on WETH.
    With `only_contracts` the spec decodes nothing else; without it the mapping only serves CONTRACTS
    attribution (Aave V3's events are decoded from any emitter, attributed on its own Pool contracts).
    `creates_pool` marks factory events that announce a pool.
    """

    topic0: str
    family: str
    name: str
    topic_count: int
    data_size: int
    decode: DecodeFn
    attribution: Attribution = Attribution.NONE
    protocol: str | None = None
    dynamic: bool = False
    contracts: Mapping[str, frozenset[str]] | None = None
    only_contracts: bool = False
    creates_pool: CreatedPoolFn | None = None

    @property
    def kind(self) -> str:
        return f"{self.family}.{self.name}"

    def fits(self, topic_count: int, data_size: int) -> bool:
        """Whether a log with this many topics and data bytes has this spec's shape."""
        if topic_count != self.topic_count:
            return False
        if self.dynamic:
            return data_size >= self.data_size and data_size % 32 == 0
        return data_size == self.data_size


@dataclass(frozen=True, slots=True)
class IgnoredShape:
    """A shape sharing a topic0 with our specs that belongs to another standard (ERC-721 Transfer).

    Logs of this shape are neither decoded nor counted as malformed.
    """

    topic0: str
    topic_count: int
    data_size: int


@dataclass(frozen=True, slots=True)
class ProtocolInfo:
    """A protocol the decoder attributes events to (`slug` as in the API and DefiLlama)."""

    slug: str
    name: str
    category: str


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """A liquidity pool whose address was proven from its factory (CREATE2) or shipped as proven.

    `fee` is the V3 fee tier in hundredths of a basis point (500 = 0.05%); None for V2-style pairs.
    """

    address: str
    chain: str
    protocol: str
    family: str
    token0: str
    token1: str
    fee: int | None
    factory: str


@dataclass(slots=True)
class PoolDirectory:
    """Pools by address, used to attribute pool events (Swap, Sync, ...) to a protocol slug."""

    pools: dict[str, PoolInfo] = field(default_factory=dict)
    rejected: list[PoolInfo] = field(default_factory=list)

    def add(self, pool: PoolInfo) -> None:
        self.pools[pool.address] = pool

    def extend(self, pools: Iterable[PoolInfo]) -> None:
        for pool in pools:
            self.pools[pool.address] = pool

    def get(self, address: str) -> PoolInfo | None:
        return self.pools.get(address.lower())

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and address.lower() in self.pools

    def __len__(self) -> int:
        return len(self.pools)

    def __iter__(self) -> Iterator[PoolInfo]:
        return iter(self.pools.values())

    @classmethod
    def default(cls, chain: str) -> PoolDirectory:
        """The shipped pool lists for `chain`, each address re-proven by CREATE2 (mismatches in `rejected`)."""
        from onchain.protocols.pools import load_shipped_pools

        directory = cls()
        proven, rejected = load_shipped_pools(chain)
        directory.extend(proven)
        directory.rejected.extend(rejected)
        return directory
