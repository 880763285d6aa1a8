"""All event specs joined by topic0, and the `Decoder` that turns logs into events.

One topic0 can carry several shapes (ERC-20 vs ERC-721 Transfer); the decoder picks the spec whose
topic count and data size fit. A log whose topic0 is ours but whose shape or values fit no spec is
counted in `DecodeResult.skipped` and never stops decoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from onchain.config import FactoryConfig
from onchain.domain.chain import Log
from onchain.domain.events import Event
from onchain.protocols import aave_v3, chainlink, erc20, uniswap_v2, uniswap_v3, weth
from onchain.protocols.base import Attribution, EventSpec, IgnoredShape, PoolDirectory, PoolInfo, ProtocolInfo
from onchain.protocols.create2 import Factory, pool_address

ALL_SPECS: tuple[EventSpec, ...] = (
    erc20.SPECS + weth.SPECS + uniswap_v2.SPECS + uniswap_v3.SPECS + chainlink.SPECS + aave_v3.SPECS
)
IGNORED_SHAPES: tuple[IgnoredShape, ...] = erc20.IGNORED
BUILTIN_FACTORIES: tuple[Factory, ...] = uniswap_v2.FACTORIES + uniswap_v3.FACTORIES

PROTOCOLS: dict[str, ProtocolInfo] = {
    p.slug: p
    for p in (
        ProtocolInfo("uniswap-v2", "Uniswap V2", "Dexes"),
        ProtocolInfo("sushiswap", "SushiSwap", "Dexes"),
        ProtocolInfo("uniswap-v3", "Uniswap V3", "Dexes"),
        ProtocolInfo("chainlink", "Chainlink", "Oracle"),
        ProtocolInfo("aave-v3", "Aave V3", "Lending"),
    )
}


def specs_by_topic() -> dict[str, tuple[EventSpec, ...]]:
    """Every spec grouped under its topic0."""
    table: dict[str, list[EventSpec]] = {}
    for spec in ALL_SPECS:
        table.setdefault(spec.topic0, []).append(spec)
    return {topic0: tuple(specs) for topic0, specs in table.items()}


def factories_for(chain: str, configured: Sequence[FactoryConfig] = ()) -> dict[str, Factory]:
    """Built-in factories of `chain` plus V2-style factories from settings, by factory address."""
    found = {f.address: f for f in BUILTIN_FACTORIES if f.chain == chain}
    for row in configured:
        if row.chain == chain:
            address = row.address.lower()
            found[address] = Factory(row.protocol, uniswap_v2.FAMILY, chain, address, row.init_code_hash.lower())
    return found


@dataclass(slots=True)
class DecodeResult:
    """What one `Decoder.decode` call produced.

    `skipped` counts logs per kind (`uniswap_v2.Swap`) whose topic0 matched but that did not decode.
    `new_pools` are pools announced by a known factory and proven by CREATE2; `unproven_pools` were
    announced by a known factory at an address CREATE2 does not give (not attributed, not added).
    """

    events: list[Event] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    new_pools: list[PoolInfo] = field(default_factory=list)
    unproven_pools: list[PoolInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Route:
    """A spec resolved for one chain: its emitter filter and attribution set made concrete."""

    spec: EventSpec
    kind: str
    topic_count: int
    data_size: int
    dynamic: bool
    only: frozenset[str] | None
    known: frozenset[str]
    attribution: Attribution


class Decoder:
    """Decodes one chain's logs into events; learns pools from factory events as it goes."""

    def __init__(
        self,
        chain: str,
        pools: PoolDirectory | None = None,
        factories: Sequence[FactoryConfig] = (),
    ) -> None:
        self.chain = chain
        self.pools = pools if pools is not None else PoolDirectory.default(chain)
        self.factories = factories_for(chain, factories)
        self._routes: dict[str, tuple[_Route, ...]] = {
            topic0: tuple(self._route(spec) for spec in specs) for topic0, specs in specs_by_topic().items()
        }
        self._ignored = {(s.topic0, s.topic_count, s.data_size) for s in IGNORED_SHAPES}

    def _route(self, spec: EventSpec) -> _Route:
        contracts = frozenset(spec.contracts.get(self.chain, ())) if spec.contracts is not None else frozenset()
        return _Route(
            spec=spec,
            kind=spec.kind,
            topic_count=spec.topic_count,
            data_size=spec.data_size,
            dynamic=spec.dynamic,
            only=contracts if spec.only_contracts else None,
            known=contracts,
            attribution=spec.attribution,
        )

    def decode(self, logs: Iterable[Log]) -> DecodeResult:
        result = DecodeResult()
        events = result.events
        skipped = result.skipped
        routes_by_topic = self._routes
        pools = self.pools.pools
        chain = self.chain
        none, fixed, pool_kind = Attribution.NONE, Attribution.FIXED, Attribution.POOL
        for log in logs:
            topics = log.topics
            if not topics:
                continue
            routes = routes_by_topic.get(topics[0])
            if routes is None:
                continue
            address = log.address
            data = log.data
            topic_count = len(topics)
            size = (len(data) - 2) >> 1
            for route in routes:
                if route.topic_count == topic_count and (
                    route.data_size == size or (route.dynamic and size > route.data_size and size % 32 == 0)
                ):
                    if route.only is not None and address not in route.only:
                        continue
                    break
            else:
                self._unmatched(routes, topics[0], address, topic_count, size, skipped)
                continue
            try:
                args = route.spec.decode(topics, bytes.fromhex(data[2:]))
            except (ValueError, IndexError):
                skipped[route.kind] = skipped.get(route.kind, 0) + 1
                continue
            attribution = route.attribution
            if attribution is none:
                protocol = None
            elif attribution is pool_kind:
                info = pools.get(address)
                protocol = info.protocol if info is not None and info.family == route.spec.family else None
            elif attribution is fixed:
                protocol = route.spec.protocol
            elif attribution is Attribution.CONTRACTS:
                protocol = route.spec.protocol if address in route.known else None
            else:
                protocol = self._created_pool(route.spec, address, args, result)
            events.append(
                Event(
                    chain,
                    log.block_number,
                    log.block_hash,
                    log.transaction_hash,
                    log.transaction_index,
                    log.log_index,
                    address,
                    route.spec.family,
                    route.spec.name,
                    protocol,
                    args,
                )
            )
        return result

    def _unmatched(
        self,
        routes: tuple[_Route, ...],
        topic0: str,
        address: str,
        topic_count: int,
        size: int,
        skipped: dict[str, int],
    ) -> None:
        """Count a log with our topic0 that fits no spec, unless it is another standard or emitter."""
        if (topic0, topic_count, size) in self._ignored:
            return
        mine = [r for r in routes if r.only is None or address in r.only]
        if mine:
            skipped[mine[0].kind] = skipped.get(mine[0].kind, 0) + 1

    def _created_pool(self, spec: EventSpec, address: str, args: dict[str, object], result: DecodeResult) -> str | None:
        """Attribute a factory event and, when CREATE2 proves the announced pool, learn the pool."""
        factory = self.factories.get(address)
        if factory is None or factory.family != spec.family or spec.creates_pool is None:
            return None
        pool, token0, token1, fee = spec.creates_pool(dict(args))
        info = PoolInfo(pool, self.chain, factory.protocol, factory.family, token0, token1, fee, factory.address)
        if pool_address(factory, token0, token1, fee) != pool:
            result.unproven_pools.append(info)
            return None
        self.pools.add(info)
        result.new_pools.append(info)
        return factory.protocol
