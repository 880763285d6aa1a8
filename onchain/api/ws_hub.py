"""The WebSocket fan-out core: channels, sequence numbers, history, filters and coalesced frames.

No sockets here. Subscribers are `Sink`s (see `ws_sinks.py`); the hub only decides which bytes go to
whom. Each update is serialized once; subscribers with the same subscriptions share one group, and a
group's frame is built once per flush, so every member gets the identical bytes. Updates published in
the same instant (one event-loop turn, or `coalesce_seconds`) leave as one frame: a JSON array when a
group has more than one update due.

Private channels (`alerts`) are not broadcast: a message there belongs to one user and goes, as it is,
only to that user's connections subscribed to the channel. They have no seq or history, since the
durable record of an alert is its delivery log (`/v2/alerts/{id}/deliveries`).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

# design.md's broadcast channels, plus `swaps` (recent DEX swaps, for the dashboard) and `anomalies`.
CHANNELS: tuple[str, ...] = ("protocols", "tvl", "prices", "volumes", "blocks", "swaps", "mev", "anomalies")
# Per-user channels: each message is addressed to one user.
PRIVATE_CHANNELS: tuple[str, ...] = ("alerts",)


def dumps(message: Mapping[str, Any]) -> bytes:
    """JSON bytes; an integer beyond 64 bits (a wei amount) keeps its exact digits via the stdlib."""
    try:
        return orjson.dumps(message)
    except TypeError:
        return json.dumps(message, separators=(",", ":"), default=str).encode()


def encode_text_frame(payload: bytes) -> bytes:
    """RFC 6455 single unmasked text frame, as a server sends it (so identical for every receiver)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x81, length))
    elif length < 1 << 16:
        header = bytes((0x81, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + length.to_bytes(8, "big")
    return header + payload


class Frame:
    """One outgoing WebSocket text message; its wire encoding is computed once and shared."""

    __slots__ = ("_text", "_wire", "payload", "updates")

    def __init__(self, payload: bytes, updates: int = 0) -> None:
        self.payload = payload
        self.updates = updates
        self._wire: bytes | None = None
        self._text: str | None = None

    @classmethod
    def of(cls, message: Mapping[str, Any]) -> Frame:
        return cls(dumps(message))

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = encode_text_frame(self.payload)
        return self._wire

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.payload.decode()
        return self._text


class Sink(Protocol):
    """Where a client's frames go. `deliver` never blocks; a sink that cannot keep up drops itself."""

    def deliver(self, frame: Frame) -> None: ...


@dataclass(frozen=True, slots=True)
class Update:
    channel: str
    seq: int
    id: str
    chain: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel plus optional filters; an empty filter set means everything on the channel."""

    channel: str
    ids: frozenset[str] = frozenset()
    chains: frozenset[str] = frozenset()

    def matches(self, update: Update) -> bool:
        return (not self.ids or update.id in self.ids) and (not self.chains or update.chain in self.chains)

    def widened(self, other: Subscription) -> Subscription:
        """One filter covering both subscriptions to a channel: ids and chains are unioned per dimension,
        and a dimension either side leaves open stays open (so the result may cover more than both)."""
        ids = frozenset() if not self.ids or not other.ids else self.ids | other.ids
        chains = frozenset() if not self.chains or not other.chains else self.chains | other.chains
        return Subscription(self.channel, ids, chains)


@dataclass(slots=True)
class ChannelLog:
    """Per-channel sequence counter and a bounded history for resume."""

    history: deque[Update]
    seq: int = 0


@dataclass(slots=True)
class Group:
    subs: dict[str, Subscription]
    clients: set[Client] = field(default_factory=set)


class Client:
    """A connected subscriber as the hub sees it."""

    __slots__ = ("group_key", "private", "sink", "subs", "user_id")

    def __init__(self, sink: Sink, user_id: str | None = None) -> None:
        self.sink = sink
        self.user_id = user_id
        self.subs: dict[str, Subscription] = {}
        self.private: set[str] = set()
        self.group_key: frozenset[Subscription] = frozenset()


@dataclass(frozen=True, slots=True)
class Resumed:
    """What a (re)subscribe found: the channel's newest seq, the backlog to replay, and whether some is lost."""

    last_seq: int
    missed: list[Update]
    gap: bool

    @property
    def frame(self) -> Frame | None:
        return frame_of(self.missed) if self.missed else None


def update_chain(data: Mapping[str, Any]) -> str:
    """The chain an update belongs to: its `chain` field, else the prefix of a `chain:address` id."""
    chain = data.get("chain")
    if isinstance(chain, str):
        return chain.lower()
    ident = str(data.get("id", ""))
    prefix, sep, _ = ident.partition(":")
    return prefix.lower() if sep else ""


class HubStats:
    """Counters read by `/metrics`."""

    __slots__ = ("frames_sent", "private_delivered", "slow_consumers", "updates_delivered", "updates_published")

    def __init__(self) -> None:
        self.updates_published = 0
        self.updates_delivered = 0
        self.frames_sent = 0
        self.slow_consumers = 0
        self.private_delivered = 0

    def count_slow_consumer(self) -> None:
        self.slow_consumers += 1


class Hub:
    """Fan-out of channel updates to subscribed clients, with resume from a bounded history."""

    def __init__(
        self,
        *,
        channels: Iterable[str] = CHANNELS,
        private_channels: Iterable[str] = PRIVATE_CHANNELS,
        history: int = 10_000,
        coalesce_seconds: float = 0.0,
    ) -> None:
        self.logs: dict[str, ChannelLog] = {name: ChannelLog(deque(maxlen=history)) for name in channels}
        self.private_channels = frozenset(private_channels) - self.logs.keys()
        # (channel, user id) -> that user's connections subscribed to the private channel.
        self._private: dict[tuple[str, str], set[Client]] = {}
        self.coalesce_seconds = coalesce_seconds
        self.stats = HubStats()
        self._clients: set[Client] = set()
        self._groups: dict[frozenset[Subscription], Group] = {}
        self._pending: list[tuple[str, Mapping[str, Any]]] = []
        self._flush_handle: asyncio.Handle | asyncio.TimerHandle | None = None

    @property
    def channels(self) -> list[str]:
        """Every channel a client may subscribe to."""
        return sorted(self.logs.keys() | self.private_channels)

    @property
    def connections(self) -> int:
        return len(self._clients)

    def sinks(self) -> list[Sink]:
        return [client.sink for client in self._clients]

    # --- publishing -------------------------------------------------------------------------

    def publish(self, channel: str, data: Mapping[str, Any]) -> None:
        """Queue one update; it leaves with everything else published in the same instant."""
        if channel not in self.logs:
            raise ValueError(f"unknown channel {channel!r}")
        self._pending.append((channel, data))
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            if self.coalesce_seconds > 0:
                self._flush_handle = loop.call_later(self.coalesce_seconds, self.flush)
            else:
                self._flush_handle = loop.call_soon(self.flush)

    def flush(self) -> None:
        """Number, record and deliver everything pending. Synchronous: no client can delay another."""
        self._flush_handle = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        updates = [self._record(channel, data) for channel, data in pending]
        self.stats.updates_published += len(updates)
        frames: dict[tuple[int, ...], Frame] = {}
        stats = self.stats
        for group in list(self._groups.values()):
            if not group.clients:
                continue
            subs = group.subs
            chosen = [i for i, u in enumerate(updates) if (s := subs.get(u.channel)) is not None and s.matches(u)]
            if not chosen:
                continue
            key = tuple(chosen)
            frame = frames.get(key)
            if frame is None:
                frame = frame_of([updates[i] for i in chosen])
                frames[key] = frame
            members = list(group.clients)
            stats.frames_sent += len(members)
            stats.updates_delivered += len(chosen) * len(members)
            for client in members:
                client.sink.deliver(frame)

    def send_private(self, channel: str, user_id: str, message: Mapping[str, Any]) -> int:
        """Deliver `message` as it is to `user_id`'s connections subscribed to a private channel; returns how many."""
        if channel not in self.private_channels:
            raise ValueError(f"unknown private channel {channel!r}")
        clients = self._private.get((channel, user_id))
        if not clients:
            return 0
        frame = Frame.of(message)
        for client in list(clients):
            client.sink.deliver(frame)
        self.stats.frames_sent += len(clients)
        self.stats.private_delivered += len(clients)
        return len(clients)

    def _record(self, channel: str, data: Mapping[str, Any]) -> Update:
        log = self.logs[channel]
        log.seq += 1
        payload = dumps({"type": "update", "channel": channel, "data": data, "seq": log.seq})
        update = Update(channel, log.seq, str(data.get("id", "")), update_chain(data), payload)
        log.history.append(update)
        return update

    # --- clients ----------------------------------------------------------------------------

    def attach(self, sink: Sink, user_id: str | None = None) -> Client:
        """A new connection; `user_id` is the authenticated caller (None: anonymous, no private channels)."""
        client = Client(sink, user_id)
        self._clients.add(client)
        return client

    def detach(self, client: Client) -> None:
        self._clients.discard(client)
        self._leave_group(client)
        for channel in list(client.private):
            self.leave_private(client, channel)

    def join_private(self, client: Client, channel: str) -> None:
        """Subscribe an authenticated connection to a private channel (its own messages only)."""
        if channel not in self.private_channels:
            raise ValueError(f"unknown private channel {channel!r}")
        if client.user_id is None:
            raise PermissionError(f"channel {channel!r} needs an authenticated connection")
        client.private.add(channel)
        self._private.setdefault((channel, client.user_id), set()).add(client)

    def leave_private(self, client: Client, channel: str) -> bool:
        if channel not in client.private or client.user_id is None:
            return False
        client.private.discard(channel)
        key = (channel, client.user_id)
        clients = self._private.get(key)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._private[key]
        return True

    def subscribe(self, client: Client, sub: Subscription, resume_from: int | None = None) -> Resumed:
        """Add (or widen) a subscription; with `resume_from`, also return what the client missed.

        The caller must deliver the backlog before yielding to the loop: nothing published meanwhile
        can then fall between backlog and live updates, or arrive twice (history holds only flushed
        updates, and pending ones reach the new subscription at the next flush).
        """
        log = self.logs[sub.channel]
        missed: list[Update] = []
        gap = False
        if resume_from is not None:
            missed = [u for u in log.history if u.seq > resume_from and sub.matches(u)]
            oldest = log.history[0].seq if log.history else log.seq + 1
            # Older than the history holds, or newer than this server has seen (it restarted).
            gap = resume_from > log.seq or (resume_from < oldest - 1 and resume_from < log.seq)
        current = client.subs.get(sub.channel)
        client.subs[sub.channel] = current.widened(sub) if current else sub
        self._regroup(client)
        return Resumed(log.seq, missed, gap)

    def unsubscribe(self, client: Client, sub: Subscription) -> bool:
        """Remove the given ids/chains from a subscription, or the whole channel when none are given."""
        current = client.subs.get(sub.channel)
        if current is None:
            return False
        if not sub.ids and not sub.chains:
            del client.subs[sub.channel]
        else:
            ids = current.ids - sub.ids
            chains = current.chains - sub.chains
            if (current.ids and not ids) or (current.chains and not chains):
                del client.subs[sub.channel]
            else:
                client.subs[sub.channel] = Subscription(sub.channel, ids, chains)
        self._regroup(client)
        return True

    def _regroup(self, client: Client) -> None:
        self._leave_group(client)
        key = frozenset(client.subs.values())
        client.group_key = key
        if not key:
            return
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(dict(client.subs))
        group.clients.add(client)

    def _leave_group(self, client: Client) -> None:
        group = self._groups.get(client.group_key)
        if group is not None:
            group.clients.discard(client)
            if not group.clients:
                del self._groups[client.group_key]
        client.group_key = frozenset()


def frame_of(updates: list[Update]) -> Frame:
    """One update as itself, several as a JSON array in one frame."""
    if len(updates) == 1:
        return Frame(updates[0].payload, 1)
    return Frame(b"[" + b",".join(u.payload for u in updates) + b"]", len(updates))
