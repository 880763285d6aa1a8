"""Every bus topic, named once, with the payload it carries.

The bus moves JSON objects (integers exact, any size); this module is the one place that says which
topics exist and what their messages look like, so producers and consumers cannot drift apart. Payloads
with a type here are built and read only through it (`encode()` gives the JSON object, `decode()` reads
one back); the others are described next to their name and built by their one producer.

It lives in `domain` (pure, no I/O) because the pure cores name the topics they produce (the market
state's `prices`, `tvl`, ... updates) and must not import the bus.

Delivery is fan-out and at-most-once; messages are published only after the data they describe is
committed, so a subscriber may always read the store for more (see `onchain.bus.base`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from onchain.domain.events import Event

# ---- ingest pipeline ------------------------------------------------------------------------------------

BLOCKS: Final = "blocks"
"""One per stored block: `BlockStored`."""
EVENTS: Final = "events"
"""One or more per committed batch: `EventsBatch`, covering every block of its range."""
REORG: Final = "reorg"
"""After a rollback: `Reorg`."""

# ---- services --------------------------------------------------------------------------------------------

PRICES: Final = "prices"
TVL: Final = "tvl"
VOLUMES: Final = "volumes"
PROTOCOLS: Final = "protocols"
MARKET_TOPICS: Final = (PRICES, TVL, VOLUMES, PROTOCOLS)
"""The market service's updates, one object or a list: `{"id", "value", "timestamp", "change24h", "block", ...}`
(`onchain.metrics.state.Update.as_dict`)."""
RISK: Final = "risk"
"""The analytics service's protocol risk scores, in the market update shape (`id` = protocol slug)."""
ANOMALIES: Final = "anomalies"
"""The analytics service's findings: `{"kind", "subject", "chain", "block", "timestamp", "value", ...}`
(`onchain.analytics.anomalies.Anomaly.as_dict`)."""
MEV: Final = "mev"
"""The MEV service's findings of one block: `{"chain", "block", "timestamp", "sandwiches", "arbitrages",
"liquidations", "jit"}` (one block of `onchain mev inspect`, with `chain` and `timestamp`)."""

# ---- alerts and accounts ---------------------------------------------------------------------------------

ALERT_RULES: Final = "alert-rules"
"""A rule was created, changed or deleted through the API: `RuleChange`."""
ALERTS: Final = "alerts"
"""One firing for one user, for that user's WebSocket connections on any replica: `UserAlert`."""
ACCOUNTS: Final = "accounts"
"""An account change committed by one process, applied by the others: `{"kind", "userId", ...}`
(`onchain.accounts.service`)."""


# ---- payloads ---------------------------------------------------------------------------------------------


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as `events` messages carry it (with `kind`, which readers without the type want)."""
    return {
        "chain": event.chain,
        "block_number": event.block_number,
        "block_hash": event.block_hash,
        "transaction_hash": event.transaction_hash,
        "transaction_index": event.transaction_index,
        "log_index": event.log_index,
        "address": event.address,
        "family": event.family,
        "name": event.name,
        "kind": event.kind,
        "protocol": event.protocol,
        "args": event.args,
    }


def event_from_dict(raw: Mapping[str, Any]) -> Event:
    """The inverse of `event_to_dict` (`kind` is derived, so not read)."""
    return Event(
        chain=raw["chain"],
        block_number=int(raw["block_number"]),
        block_hash=raw["block_hash"],
        transaction_hash=raw["transaction_hash"],
        transaction_index=int(raw["transaction_index"]),
        log_index=int(raw["log_index"]),
        address=raw["address"],
        family=raw["family"],
        name=raw["name"],
        protocol=raw.get("protocol"),
        args=raw["args"],
    )


@dataclass(frozen=True, slots=True)
class BlockStored:
    """`blocks`: a block is stored, with how many logs it had and how many of them were decoded."""

    chain: str
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    logs: int
    events: int

    def encode(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "number": self.number,
            "hash": self.hash,
            "parent_hash": self.parent_hash,
            "timestamp": self.timestamp,
            "logs": self.logs,
            "events": self.events,
        }

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> BlockStored:
        return cls(
            chain=str(raw["chain"]),
            number=int(raw["number"]),
            hash=raw["hash"],
            parent_hash=raw["parent_hash"],
            timestamp=int(raw["timestamp"]),
            logs=int(raw["logs"]),
            events=int(raw["events"]),
        )


@dataclass(frozen=True, slots=True)
class EventsBatch:
    """`events`: the decoded events of blocks `from_block..to_block` of one chain, every block of the range
    included whether it had events or not."""

    chain: str
    from_block: int
    to_block: int
    events: Sequence[Event]

    def encode(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "from_block": self.from_block,
            "to_block": self.to_block,
            "events": [event_to_dict(event) for event in self.events],
        }

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> EventsBatch:
        return cls(
            chain=str(raw["chain"]),
            from_block=int(raw["from_block"]),
            to_block=int(raw["to_block"]),
            events=[event_from_dict(event) for event in raw.get("events", ())],
        )


@dataclass(frozen=True, slots=True)
class Reorg:
    """`reorg`: blocks `orphaned_from..orphaned_to` were rolled back to `ancestor` (its hash as stored,
    None when the chain's cursor was gone)."""

    chain: str
    ancestor: int
    ancestor_hash: str | None
    orphaned_from: int
    orphaned_to: int

    @property
    def depth(self) -> int:
        return self.orphaned_to - self.ancestor

    def encode(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "ancestor": self.ancestor,
            "ancestor_hash": self.ancestor_hash,
            "orphaned_from": self.orphaned_from,
            "orphaned_to": self.orphaned_to,
            "depth": self.depth,
        }

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> Reorg:
        return cls(
            chain=str(raw["chain"]),
            ancestor=int(raw["ancestor"]),
            ancestor_hash=raw.get("ancestor_hash"),
            orphaned_from=int(raw["orphaned_from"]),
            orphaned_to=int(raw["orphaned_to"]),
        )


@dataclass(frozen=True, slots=True)
class RuleChange:
    """`alert-rules`: rule `id` was upserted or deleted."""

    op: str
    id: str

    def encode(self) -> dict[str, Any]:
        return {"op": self.op, "id": self.id}

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> RuleChange:
        return cls(op=str(raw["op"]), id=str(raw["id"]))


@dataclass(frozen=True, slots=True)
class UserAlert:
    """`alerts`: `message` (the alert as the `alerts` WebSocket channel sends it) for user `user_id`."""

    user_id: str
    message: Mapping[str, Any]

    def encode(self) -> dict[str, Any]:
        return {"userId": self.user_id, "message": dict(self.message)}

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> UserAlert:
        """Raises TypeError unless `userId` is a string and `message` an object."""
        user_id, message = raw["userId"], raw["message"]
        if not isinstance(user_id, str) or not isinstance(message, dict):
            raise TypeError("an alerts message needs a string userId and an object message")
        return cls(user_id=user_id, message=message)
