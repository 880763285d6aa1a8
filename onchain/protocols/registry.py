"""All event specs joined by topic0, and the `Decoder` that turns logs into events.

One topic0 can carry several shapes (ERC-20 vs ERC-721 Transfer); the decoder picks the spec whose
topic count and data size fit. A log whose topic0 is ours but whose shape or values fit no spec is
counted in `DecodeResult.skipped` and never stops decoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, cast

from onchain.config import FactoryConfig
from onchain.domain.chain import Log
from onchain.domain.events import Event
from onchain.protocols import aave_v3, chainlink, erc20, uniswap_v2, uniswap_v3, weth
from onchain.protocols.base import Attribution, DecodeFn, EventSpec, IgnoredShape, PoolDirectory, PoolInfo, ProtocolInfo
from onchain.protocols.create2 import Factory, pool_address
from onchain.protocols.pools import BUILTIN_FACTORIES

ALL_SPECS: tuple[EventSpec, ...] = (
    erc20.SPECS + weth.SPECS + uniswap_v2.SPECS + uniswap_v3.SPECS + chainlink.SPECS + aave_v3.SPECS
)
IGNORED_SHAPES: tuple[IgnoredShape, ...] = erc20.IGNORED

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


_EVENT_FIELDS = (
    "chain",
    "block_number",
    "block_hash",
    "transaction_hash",
    "transaction_index",
    "log_index",
    "address",
    "family",
    "name",
    "protocol",
    "args",
)


class _EventBuilder:
    """Builds an `Event` without the frozen dataclass `__init__`, the largest cost per decoded log.

    The frozen `__init__` stores each field through `object.__setattr__` and measured at half of the
    decode time. This class has the same slots, stores them with plain attribute writes, then becomes
    an `Event` (CPython allows `__class__` assignment between identical slot layouts, and refuses it
    otherwise). The result is an ordinary `Event`, equal to `Event(...)` with the same values.
    """

    __slots__ = _EVENT_FIELDS

    def __init__(
        self,
        chain: str,
        block_number: int,
        block_hash: str,
        transaction_hash: str,
        transaction_index: int,
        log_index: int,
        address: str,
        family: str,
        name: str,
        protocol: str | None,
        args: dict[str, Any],
    ) -> None:
        self.chain = chain
        self.block_number = block_number
        self.block_hash = block_hash
        self.transaction_hash = transaction_hash
        self.transaction_index = transaction_index
        self.log_index = log_index
        self.address = address
        self.family = family
        self.name = name
        self.protocol = protocol
        self.args = args
        self.__class__ = Event  # type: ignore[assignment]


def _choose_event_builder() -> Callable[..., Event]:
    """The fast builder while `Event` still has exactly these fields, else `Event` itself."""
    if tuple(f.name for f in fields(Event)) != _EVENT_FIELDS or tuple(Event.__slots__) != _EVENT_FIELDS:
        return Event
    return cast(Callable[..., Event], _EventBuilder)


build_event = _choose_event_builder()


# Attribution modes as small ints for the hot loop.
_NONE, _FIXED, _CONTRACTS, _POOL, _FACTORY = range(5)
_MODES = {
    Attribution.NONE: _NONE,
    Attribution.FIXED: _FIXED,
    Attribution.CONTRACTS: _CONTRACTS,
    Attribution.POOL: _POOL,
    Attribution.FACTORY: _FACTORY,
}

#: A spec resolved for one chain, flattened for the hot loop:
#: (spec, family, name, decode, mode, protocol, only-these-emitters or None, known emitters).
_Route = tuple[EventSpec, str, str, DecodeFn, int, str | None, frozenset[str] | None, frozenset[str]]


def _shape_key(topic_count: int, data_size: int) -> int:
    """One int for (topic count, data bytes): a log has at most 4 topics."""
    return data_size << 3 | topic_count


class Decoder:
    """Decodes one chain's logs into events; learns pools from factory events as it goes.

    `pools=None` starts from the shipped pool lists of `chain`; `factories` adds V2-style factories
    from settings to the built-in ones.
    """

    def __init__(
        self,
        chain: str,
        pools: PoolDirectory | None = None,
        factories: Sequence[FactoryConfig] = (),
    ) -> None:
        self.chain = chain
        self.pools = pools if pools is not None else PoolDirectory.default(chain)
        self.factories = factories_for(chain, factories)
        self._specs = specs_by_topic()
        # topic0 -> shape key -> route, for the fixed-size shapes (every shape but NewTransmission's).
        self._static: dict[str, dict[int, _Route]] = {}
        for topic0, specs in self._specs.items():
            self._static[topic0] = {
                _shape_key(spec.topic_count, spec.data_size): self._route(spec) for spec in specs if not spec.dynamic
            }
        self._ignored = {(s.topic0, _shape_key(s.topic_count, s.data_size)) for s in IGNORED_SHAPES}

    def _route(self, spec: EventSpec) -> _Route:
        contracts = frozenset(spec.contracts.get(self.chain, ())) if spec.contracts is not None else frozenset()
        only = contracts if spec.only_contracts else None
        mode = _MODES[spec.attribution]
        protocol = None if mode == _NONE else spec.protocol
        return (spec, spec.family, spec.name, spec.decode, mode, protocol, only, contracts)

    def decode(self, logs: Iterable[Log]) -> DecodeResult:
        """Decode every log we have a spec for; count (never raise on) those that match but do not fit."""
        result = DecodeResult()
        events = result.events
        append = events.append
        skipped = result.skipped
        static = self._static
        pools = self.pools.pools
        chain = self.chain
        fromhex = bytes.fromhex
        for log in logs:
            topics = log.topics
            if not topics:
                continue
            shapes = static.get(topics[0])
            if shapes is None:
                continue
            data = log.data
            address = log.address
            route = shapes.get((len(data) - 2) >> 1 << 3 | len(topics))
            if route is None:
                route = self._slow_route(log, skipped)
                if route is None:
                    continue
            spec, family, name, decode, mode, protocol, only, known = route
            if only is not None and address not in only:
                continue
            try:
                args = decode(topics, fromhex(data[2:]))
            except (ValueError, IndexError):
                skipped[spec.kind] = skipped.get(spec.kind, 0) + 1
                continue
            if mode > _FIXED:
                if mode == _POOL:
                    info = pools.get(address)
                    protocol = info.protocol if info is not None and info.family == family else None
                elif mode == _CONTRACTS:
                    protocol = protocol if address in known else None
                else:
                    protocol = self._created_pool(spec, address, args, result)
            append(
                build_event(
                    chain,
                    log.block_number,
                    log.block_hash,
                    log.transaction_hash,
                    log.transaction_index,
                    log.log_index,
                    address,
                    family,
                    name,
                    protocol,
                    args,
                )
            )
        return result

    def _slow_route(self, log: Log, skipped: dict[str, int]) -> _Route | None:
        """A dynamic-size spec that fits `log`, else count it as malformed unless it is not ours."""
        topic0 = log.topics[0]
        topic_count = len(log.topics)
        size = (len(log.data) - 2) >> 1
        specs = self._specs[topic0]
        for spec in specs:
            if spec.dynamic and spec.fits(topic_count, size):
                return self._route(spec)
        if (topic0, _shape_key(topic_count, size)) in self._ignored:
            return None
        mine = [
            s for s in specs if not s.only_contracts or log.address in (s.contracts or {}).get(self.chain, frozenset())
        ]
        if mine:
            skipped[mine[0].kind] = skipped.get(mine[0].kind, 0) + 1
        return None

    def _created_pool(self, spec: EventSpec, address: str, args: dict[str, Any], result: DecodeResult) -> str | None:
        """Attribute a factory event and, when CREATE2 proves the announced pool, learn the pool."""
        factory = self.factories.get(address)
        if factory is None or factory.family != spec.family or spec.creates_pool is None:
            return None
        pool, token0, token1, fee = spec.creates_pool(args)
        info = PoolInfo(pool, self.chain, factory.protocol, factory.family, token0, token1, fee, factory.address)
        if pool_address(factory, token0, token1, fee) != pool:
            result.unproven_pools.append(info)
            return None
        self.pools.add(info)
        result.new_pools.append(info)
        return factory.protocol
