"""The fan-out hub alone: sequence numbers, shared frames, coalescing, filters, resume."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from onchain.api.ws_hub import Frame, Hub, Subscription, encode_text_frame

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "ethereum:0xdac17f958d2ee523a2206206994597c13d831ec7"


class Recorder:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def deliver(self, frame: Frame) -> None:
        self.frames.append(frame)

    def messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for frame in self.frames:
            decoded = json.loads(frame.payload)
            out.extend(decoded if isinstance(decoded, list) else [decoded])
        return out


def price(coin: str, value: float, block: int) -> dict[str, Any]:
    return {"id": coin, "value": value, "timestamp": 1683030011, "change24h": None, "block": block}


async def settle() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_members_of_a_group_share_one_frame_and_an_instant_is_one_frame() -> None:
    hub = Hub()
    sinks = [Recorder() for _ in range(3)]
    for sink in sinks:
        hub.subscribe(hub.attach(sink), Subscription("prices"))
    hub.publish("prices", price(WETH, 1830.5, 17173049))
    hub.publish("prices", price(USDT, 1.0, 17173049))
    await settle()
    assert len(sinks[0].frames) == 1
    assert all(sink.frames[0] is sinks[0].frames[0] for sink in sinks)
    assert [m["seq"] for m in sinks[0].messages()] == [1, 2]
    hub.publish("prices", price(WETH, 1831.0, 17173050))
    await settle()
    assert json.loads(sinks[0].frames[1].payload)["seq"] == 3  # a lone update is not wrapped in an array
    assert hub.stats.updates_delivered == 9 and hub.stats.frames_sent == 6


async def test_sequences_are_per_channel_and_history_is_bounded() -> None:
    hub = Hub(history=3)
    for block in range(5):
        hub.publish("prices", price(WETH, 1830.0 + block, block))
    hub.publish("tvl", {"id": "uniswap-v2", "value": 1.5e9, "timestamp": 1, "change24h": None, "block": 4})
    await settle()
    assert hub.logs["prices"].seq == 5 and hub.logs["tvl"].seq == 1
    assert [u.seq for u in hub.logs["prices"].history] == [3, 4, 5]


async def test_filters_widen_and_narrow() -> None:
    hub = Hub()
    sink = Recorder()
    client = hub.attach(sink)
    hub.subscribe(client, Subscription("prices", frozenset({WETH})))
    hub.subscribe(client, Subscription("prices", frozenset({USDT})))
    hub.publish("prices", price(WETH, 1830.0, 1))
    hub.publish("prices", price(USDT, 1.0, 1))
    hub.publish("prices", price("polygon:0x7ceb23fd6bc0add59e62ac25578270cff1b9f619", 1829.0, 1))
    await settle()
    assert [m["data"]["id"] for m in sink.messages()] == [WETH, USDT]

    assert hub.unsubscribe(client, Subscription("prices", frozenset({WETH})))
    hub.publish("prices", price(WETH, 1831.0, 2))
    hub.publish("prices", price(USDT, 1.0, 2))
    await settle()
    assert [m["data"]["id"] for m in sink.messages()][2:] == [USDT]

    hub.subscribe(client, Subscription("prices", chains=frozenset({"polygon"})))  # chain-only widens to all ids
    assert client.subs["prices"] == Subscription("prices")
    assert hub.unsubscribe(client, Subscription("prices"))
    assert not hub.unsubscribe(client, Subscription("prices"))


async def test_resume_returns_what_was_missed_and_flags_lost_history() -> None:
    hub = Hub(history=5)
    for block in range(8):
        hub.publish("prices", price(WETH if block % 2 else USDT, 1.0, block))
    await settle()
    client = hub.attach(Recorder())
    resumed = hub.subscribe(client, Subscription("prices", frozenset({WETH})), resume_from=4)
    assert resumed.last_seq == 8 and not resumed.gap
    assert [u.seq for u in resumed.missed] == [6, 8]
    assert resumed.frame is not None and json.loads(resumed.frame.payload)[0]["seq"] == 6

    assert hub.subscribe(hub.attach(Recorder()), Subscription("prices"), resume_from=1).gap  # history starts at 4
    assert hub.subscribe(hub.attach(Recorder()), Subscription("prices"), resume_from=99).gap  # a restarted server
    caught_up = hub.subscribe(hub.attach(Recorder()), Subscription("prices"), resume_from=8)
    assert not caught_up.gap and caught_up.missed == [] and caught_up.frame is None


async def test_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError):
        Hub().publish("gossip", {"id": "x"})


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_text_frames_carry_their_length(size: int) -> None:
    payload = b"x" * size
    frame = encode_text_frame(payload)
    assert frame[0] == 0x81 and frame.endswith(payload)
    if size < 126:
        assert frame[1] == size
    elif size < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size
