"""The private `alerts` channel of `/v2/realtime` on a real uvicorn server, on both delivery paths.

The alert worker publishes `{"userId", "message"}` on the bus topic `alerts`; the gateway must hand the
message to that user's `alerts` subscribers and to nobody else, and refuse the channel to anonymous callers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect

from onchain.api import create_app
from onchain.api.ws_hub import Hub
from onchain.config import Settings
from onchain.domain.topics import ALERTS as ALERTS_TOPIC
from tests.integration.api.conftest import LocalRuntime, serving
from tests.integration.api.test_ws import TIMEOUT, WETH, Peer

OpenPeer = Callable[..., Awaitable[Peer]]


def alert(alert_id: str, block: int) -> dict[str, Any]:
    return {
        "type": "alert",
        "alertId": alert_id,
        "condition": "price_below",
        "data": {"subject": {"type": "coin", "id": WETH}, "value": 1500.0, "threshold": 1600.0, "block": block},
        "timestamp": 1683000000 + block * 12,
        "deliveryId": f"{alert_id}-{block}",
    }


@pytest.fixture(params=["direct", "asgi"])
async def served(
    request: pytest.FixtureRequest, runtime: LocalRuntime, settings: Settings
) -> AsyncIterator[tuple[Any, Hub, OpenPeer]]:
    hub = Hub(history=50)
    app = create_app(settings, runtime, hub=hub)
    compression = request.param == "asgi"
    async with serving(app, ws_per_message_deflate=compression) as address:

        async def open_peer(api_key: str | None = None) -> Peer:
            headers = {"X-API-Key": api_key} if api_key is not None else {}
            ws = await connect(
                f"ws://{address}/v2/realtime",
                open_timeout=TIMEOUT,
                additional_headers=headers,
                compression="deflate" if compression else None,
            )
            peer = Peer(ws)
            await peer.barrier()
            return peer

        yield app, hub, open_peer


async def user_key(app: Any, name: str) -> tuple[str, str]:
    user = await app.state.accounts.create_user(name, "pro")
    key, _ = await app.state.accounts.create_key(user, "ws")
    return str(user.id), str(key)


async def test_an_alert_reaches_its_owner_only(served: Any, runtime: LocalRuntime) -> None:
    app, hub, open_peer = served
    (alice, alice_key), (bob, bob_key) = await user_key(app, "alice"), await user_key(app, "bob")
    alice_phone, alice_desk, bob_peer = await open_peer(alice_key), await open_peer(alice_key), await open_peer(bob_key)
    alice_prices_only = await open_peer(alice_key)
    for peer in (alice_phone, alice_desk, bob_peer):
        await peer.send({"type": "subscribe", "channel": "alerts"})
        assert await peer.expect("subscribed") == {"type": "subscribed", "channel": "alerts", "params": {}}
    await alice_prices_only.send({"type": "subscribe", "channel": "prices"})
    await alice_prices_only.expect("subscribed")

    await runtime.bus.publish(ALERTS_TOPIC, {"userId": alice, "message": alert("a-1", 100)})
    assert await alice_phone.next() == alert("a-1", 100)
    assert await alice_desk.next() == alert("a-1", 100)
    await runtime.bus.publish(ALERTS_TOPIC, {"userId": bob, "message": alert("b-1", 101)})
    assert await bob_peer.next() == alert("b-1", 101)
    # Bob's alert reached Bob after Alice's was published, so Alice's was already routed; pings close the rest.
    for peer in (alice_phone, alice_desk, alice_prices_only, bob_peer):
        await peer.barrier()
        assert peer.inbox == []
    assert hub.stats.private_delivered == 3
    assert all("a-1" not in frame for frame in bob_peer.frames)
    assert all("b-1" not in frame for peer in (alice_phone, alice_desk) for frame in peer.frames)

    await alice_desk.send({"type": "unsubscribe", "channel": "alerts"})
    assert (await alice_desk.expect("unsubscribed"))["channel"] == "alerts"
    await runtime.bus.publish(ALERTS_TOPIC, {"userId": alice, "message": alert("a-2", 102)})
    assert (await alice_phone.next())["alertId"] == "a-2"
    await alice_desk.barrier()
    assert alice_desk.inbox == []


async def test_anonymous_connections_may_not_subscribe_to_alerts(served: Any, runtime: LocalRuntime) -> None:
    app, hub, open_peer = served
    anonymous = await open_peer()
    await anonymous.send({"type": "subscribe", "channel": "alerts"})
    error = await anonymous.expect("error")
    assert error["code"] == "auth_required" and "alerts" in error["message"]
    # Still up, and still allowed the public channels.
    await anonymous.send({"type": "subscribe", "channel": "prices"})
    await anonymous.expect("subscribed")
    await anonymous.send({"type": "unsubscribe", "channel": "alerts"})
    assert (await anonymous.expect("error"))["code"] == "not_subscribed"
    user, key = await user_key(app, "carol")
    owner = await open_peer(key)
    await owner.send({"type": "subscribe", "channel": "alerts"})
    await owner.expect("subscribed")
    await runtime.bus.publish(ALERTS_TOPIC, {"userId": user, "message": alert("c-1", 7)})
    assert (await owner.next())["alertId"] == "c-1"
    await anonymous.barrier()
    assert anonymous.inbox == []
    assert all(json.loads(f).get("type") != "alert" for f in anonymous.frames if f.startswith("{"))
    assert hub.stats.private_delivered == 1


async def test_a_malformed_alert_envelope_is_skipped(served: Any, runtime: LocalRuntime) -> None:
    app, _hub, open_peer = served
    user, key = await user_key(app, "dave")
    peer = await open_peer(key)
    await peer.send({"type": "subscribe", "channel": "alerts"})
    await peer.expect("subscribed")
    await runtime.bus.publish(ALERTS_TOPIC, {"userId": user, "message": "not an object"})
    await runtime.bus.publish(ALERTS_TOPIC, {"message": alert("x", 1)})
    await runtime.bus.publish(ALERTS_TOPIC, {"userId": user, "message": alert("d-1", 2)})
    assert (await peer.next())["alertId"] == "d-1"
    assert app.state.feed.errors == 2
