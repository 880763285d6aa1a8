"""The outbox and its senders against real receivers: signed webhooks, retries, dead letters, email, restarts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from onchain.alerts import signing
from onchain.alerts.delivery import (
    BusNotifier,
    DeliveryWorker,
    EmailSender,
    RetryPolicy,
    SmtpConfig,
    WebhookSender,
    WebsocketSender,
    pinned_request,
)
from onchain.alerts.records import Firing
from onchain.alerts.rule_schema import RuleIn
from onchain.alerts.store import AlertRecord, AlertStore
from onchain.bus.memory import MemoryBus
from onchain.domain.topics import ALERTS as ALERTS_TOPIC
from onchain.storage import Store
from tests.integration.alerts.servers import SmtpSink, WebhookReceiver

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
FAST = RetryPolicy(base_delay=0.05, max_delay=0.2, max_attempts=200)


def rule(*channels: dict[str, Any], name: str = "weth under 2250") -> RuleIn:
    return RuleIn.model_validate(
        {
            "name": name,
            "subject": {"type": "coin", "id": WETH},
            "condition": "price_below",
            "threshold": 2250,
            "channels": list(channels),
        }
    )


def firing(alert: AlertRecord, block: int) -> Firing:
    data = {"subject": {"type": "coin", "id": WETH}, "value": 2249.5, "previous": 2250.2, "block": block}
    return Firing(alert.id, "price_below", 1704412800 + block * 12, block, "ethereum", f"price:{WETH}:{block}", data)


async def until(check: Callable[[], Awaitable[bool]], worker: DeliveryWorker, rounds: int = 200) -> None:
    """Run the worker round by round until `check` holds (bounded; the policy's delays are tens of ms)."""
    for _ in range(rounds):
        if await check():
            return
        if await worker.run_once() == 0:
            await asyncio.sleep(0.03)
    raise AssertionError("condition not reached")


async def test_webhook_is_signed_and_logged(
    alerts: AlertStore, receiver: WebhookReceiver, http_client: httpx.AsyncClient
) -> None:
    alert = await alerts.create_alert("user-1", rule({"type": "webhook", "url": receiver.url}), time.time())
    receiver.secret = alert.webhook_secret
    [delivery_id] = await alerts.record_firings([(alert, firing(alert, 18937400))], time.time())
    worker = DeliveryWorker(alerts, {"webhook": WebhookSender(http_client, allow_private=True)}, FAST)
    assert await worker.run_once() == 1

    [got] = receiver.received
    assert got.signature_ok and got.delivery_id == delivery_id and got.signature.startswith("sha256=")
    body = json.loads(got.body)
    assert body["type"] == "alert" and body["alertId"] == alert.id and body["condition"] == "price_below"
    assert body["data"]["block"] == 18937400 and body["timestamp"] == 1704412800 + 18937400 * 12
    [logged] = await alerts.deliveries(alert.id, "user-1")
    assert logged["status"] == "delivered" and logged["attempts"] == 1
    assert logged["attemptLog"][0]["statusCode"] == 200 and logged["attemptLog"][0]["ok"] is True
    assert await alerts.deliveries(alert.id, "someone-else") == []


async def test_receiver_down_then_up_gets_every_firing_once(alerts: AlertStore, http_client: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver()  # not started: the port refuses connections
    alert = await alerts.create_alert("user-1", rule({"type": "webhook", "url": receiver.url}), time.time())
    receiver.secret = alert.webhook_secret
    firings = [(alert, firing(alert, block)) for block in range(100, 105)]
    created = await alerts.record_firings(firings, time.time())
    worker = DeliveryWorker(alerts, {"webhook": WebhookSender(http_client, allow_private=True)}, FAST)

    async def retried_twice() -> bool:
        return all(item["attempts"] >= 2 for item in await alerts.deliveries(alert.id, "user-1"))

    await until(retried_twice, worker)
    await receiver.start()
    try:

        async def all_delivered() -> bool:
            return (await alerts.status_counts()) == {"delivered": 5}

        await until(all_delivered, worker)
    finally:
        await receiver.stop()
    assert sorted(receiver.delivery_ids()) == sorted(created)  # each firing once, none twice
    assert all(item.signature_ok for item in receiver.received)
    for item in await alerts.deliveries(alert.id, "user-1"):
        log = item["attemptLog"]
        assert [a["attempt"] for a in log] == list(range(1, len(log) + 1))
        assert all(not a["ok"] and a["error"] for a in log[:-1]) and log[-1]["ok"]


async def test_failing_receiver_is_dead_lettered_and_private_targets_refused(
    alerts: AlertStore, receiver: WebhookReceiver, http_client: httpx.AsyncClient
) -> None:
    receiver.status = 500
    alert = await alerts.create_alert("user-1", rule({"type": "webhook", "url": receiver.url}), time.time())
    await alerts.record_firings([(alert, firing(alert, 1))], time.time())
    policy = RetryPolicy(base_delay=0.01, max_delay=0.02, max_attempts=3)
    worker = DeliveryWorker(alerts, {"webhook": WebhookSender(http_client, allow_private=True)}, policy)

    async def dead() -> bool:
        return (await alerts.status_counts()) == {"dead": 1}

    await until(dead, worker)
    [item] = await alerts.deliveries(alert.id, "user-1")
    assert item["attempts"] == 3 and [a["statusCode"] for a in item["attemptLog"]] == [500, 500, 500]
    assert len(receiver.received) == 3

    strict = DeliveryWorker(alerts, {"webhook": WebhookSender(http_client, allow_private=False)}, FAST)
    other = await alerts.create_alert("user-1", rule({"type": "webhook", "url": receiver.url}), time.time())
    await alerts.record_firings([(other, firing(other, 2))], time.time())
    assert await strict.run_once() == 1
    [refused] = await alerts.deliveries(other.id, "user-1")
    assert refused["status"] == "dead" and "127.0.0.1" in refused["lastError"]
    assert len(receiver.received) == 3

    redelivery = await alerts.redeliver(alert.id, "user-1", item["id"], time.time())
    receiver.status = 204
    assert redelivery is not None and await worker.run_once() == 1
    assert receiver.received[-1].delivery_id == redelivery
    latest = (await alerts.deliveries(alert.id, "user-1"))[0]
    assert latest["redeliveryOf"] == item["id"] and latest["status"] == "delivered"


async def test_webhooks_to_private_ipv4_behind_ipv6_forms_are_refused(
    alerts: AlertStore, receiver: WebhookReceiver, http_client: httpx.AsyncClient
) -> None:
    """IPv4-compatible, NAT64, 6to4 and Teredo forms of loopback and of the metadata address: each a
    permanent refusal before any connection, the receiver on 127.0.0.1 never reached."""
    forms = ["::7f00:1", "::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::7f00:1",
             "2002:7f00:1::", "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:80ff:fffe"]
    strict = DeliveryWorker(alerts, {"webhook": WebhookSender(http_client, allow_private=False)}, FAST)
    for number, form in enumerate(forms, start=1):
        url = f"http://[{form}]:{receiver.port}/hook"
        alert = await alerts.create_alert("user-1", rule({"type": "webhook", "url": url}), time.time())
        await alerts.record_firings([(alert, firing(alert, number))], time.time())
        assert await strict.run_once() == 1
        [refused] = await alerts.deliveries(alert.id, "user-1")
        assert refused["status"] == "dead" and refused["attempts"] == 1, (form, refused)
        assert "non-public address" in refused["lastError"], (form, refused)
    assert receiver.received == []


async def test_outbox_survives_a_crash_mid_delivery(store_url: str, http_client: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    first = await Store.open(store_url)
    alerts = AlertStore(first.engine)
    alert = await alerts.create_alert("user-1", rule({"type": "webhook", "url": receiver.url}), time.time())
    receiver.secret = alert.webhook_secret
    created = await alerts.record_firings([(alert, firing(alert, b)) for b in range(10, 14)], time.time())
    # A worker leases two rows and dies before sending them (as under SIGKILL); the process goes away.
    claimed = await alerts.claim_due(time.time(), 2, lease=30.0)
    assert len(claimed) == 2
    await first.close()

    second = await Store.open(store_url)
    try:
        restarted = AlertStore(second.engine)
        sender = {"webhook": WebhookSender(http_client, allow_private=True)}
        worker = DeliveryWorker(restarted, sender, FAST)
        assert await worker.run_once() == 2  # the unleased rows go at once
        assert (await restarted.status_counts()) == {"delivered": 2, "pending": 2}
        later = DeliveryWorker(restarted, sender, FAST, clock=lambda: time.time() + 31.0)
        assert await later.run_once() == 2  # the dead worker's lease has run out
        assert (await restarted.status_counts()) == {"delivered": 4}
    finally:
        await second.close()
        await receiver.stop()
    assert sorted(receiver.delivery_ids()) == sorted(created)


async def test_email_reaches_the_smtp_sink(alerts: AlertStore, smtp_sink: SmtpSink) -> None:
    alert = await alerts.create_alert("user-1", rule({"type": "email", "to": "ops@example.com"}), time.time())
    await alerts.record_firings([(alert, firing(alert, 18937401))], time.time())
    config = SmtpConfig("127.0.0.1", smtp_sink.port, sender="alerts@onchain.test")
    worker = DeliveryWorker(alerts, {"email": EmailSender(config)}, FAST)
    assert await worker.run_once() == 1
    [(recipients, mail)] = smtp_sink.messages
    assert recipients == ["ops@example.com"]
    assert " ".join(str(mail["Subject"]).split()) == f"[onchain alert] weth under 2250: price_below on {WETH}"
    assert "block 18937401" in mail.get_payload()
    assert (await alerts.status_counts()) == {"delivered": 1}


async def test_websocket_channel_goes_to_the_alerts_topic(alerts: AlertStore) -> None:
    bus = MemoryBus()
    subscription = await bus.subscribe(ALERTS_TOPIC)
    alert = await alerts.create_alert("user-7", rule({"type": "websocket"}), time.time())
    await alerts.record_firings([(alert, firing(alert, 5))], time.time())
    worker = DeliveryWorker(alerts, {"websocket": WebsocketSender(BusNotifier(bus))}, FAST)
    assert await worker.run_once() == 1
    message = (await subscription.get(timeout=1)).json()
    assert message["userId"] == "user-7"
    assert {"type", "alertId", "condition", "data", "timestamp"} <= set(message["message"])
    assert message["message"]["alertId"] == alert.id


async def test_same_input_twice_fires_once_and_deleted_alerts_stop(alerts: AlertStore) -> None:
    alert = await alerts.create_alert("user-1", rule({"type": "websocket"}), time.time())
    assert len(await alerts.record_firings([(alert, firing(alert, 9))], time.time())) == 1
    assert await alerts.record_firings([(alert, firing(alert, 9))], time.time()) == []
    assert await alerts.delete_alert(alert.id, "user-1")
    assert await alerts.record_firings([(alert, firing(alert, 10))], time.time()) == []
    assert await alerts.status_counts() == {}


async def test_a_webhook_goes_to_the_checked_address_without_a_second_lookup(http_client: httpx.AsyncClient) -> None:
    """`.invalid` names never resolve: the request can only arrive if nothing looked the name up again."""
    receiver = WebhookReceiver(secret="s3cret")
    await receiver.start()
    try:
        url, host, extensions = pinned_request(f"http://hooks.invalid:{receiver.port}/hook", "127.0.0.1")
        assert url == f"http://127.0.0.1:{receiver.port}/hook" and extensions == {}
        body = b'{"type":"alert"}'
        headers = {**signing.headers("s3cret", int(time.time()), body, "delivery-1"), **host}
        response = await http_client.post(url, content=body, headers=headers, extensions=extensions)
        assert response.status_code == 200
        [received] = receiver.received
        assert received.host == f"hooks.invalid:{receiver.port}" and received.signature_ok and received.body == body
    finally:
        await receiver.stop()


def test_pinned_requests_keep_the_name_for_host_and_tls() -> None:
    url, host, extensions = pinned_request("https://hooks.example.com/a/b?c=1", "2001:db8::7")
    assert url == "https://[2001:db8::7]/a/b?c=1"
    assert host == {"Host": "hooks.example.com"} and extensions == {"sni_hostname": "hooks.example.com"}
    url, host, _ = pinned_request("http://[2001:db8::1]:8080/x", "2001:db8::1")
    assert url == "http://[2001:db8::1]:8080/x" and host == {"Host": "[2001:db8::1]:8080"}


async def test_a_lease_that_runs_out_unfinished_is_logged_as_an_interrupted_attempt(
    alerts: AlertStore, receiver: WebhookReceiver, http_client: httpx.AsyncClient
) -> None:
    alert = await alerts.create_alert("user-1", rule({"type": "webhook", "url": receiver.url}), time.time())
    receiver.secret = alert.webhook_secret
    [delivery_id] = await alerts.record_firings([(alert, firing(alert, 7))], time.time())
    start = time.time()
    [held] = await alerts.claim_due(start, 10, lease=5.0)  # a worker claims it and is never heard of again
    assert held.attempts == 0 and await alerts.claim_due(start + 1, 10, lease=5.0) == []
    later = DeliveryWorker(alerts, {"webhook": WebhookSender(http_client, allow_private=True)}, FAST, lease=5.0,
                           clock=lambda: start + 6)
    assert await later.run_once() == 1
    [logged] = await alerts.deliveries(alert.id, "user-1")
    first, second = logged["attemptLog"]
    assert (first["attempt"], first["ok"], first["statusCode"]) == (1, False, None)
    assert first["error"].startswith("interrupted: the delivering process stopped") and first["durationMs"] == 5000
    assert (second["attempt"], second["ok"], logged["status"], logged["attempts"]) == (2, True, "delivered", 2)
    assert receiver.delivery_ids() == [delivery_id]
