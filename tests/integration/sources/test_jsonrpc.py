"""JsonRpcClient against real HTTP servers on loopback: failover, typed errors, batches, rate limits."""

from __future__ import annotations

import time

import pytest

from onchain.errors import AllEndpointsFailedError, MalformedResponseError, NodeError
from onchain.sources.jsonrpc import JsonRpcClient, redact_url

from .conftest import Misbehaving

BLOCK = "0x112a880"  # 18000000, recorded complete
BLOCK_HASH = "0x95b198e154acbfc64109dfd22d8224fe927fd8dfdedfae01587674482ba4baf3"


def client(*urls: str, **kw: object) -> JsonRpcClient:
    options: dict[str, object] = {"timeout": 5.0, "backoff_base": 0.01, "backoff_max": 0.05, "max_attempts": 4}
    options.update(kw)
    return JsonRpcClient(list(urls), **options)  # type: ignore[arg-type]


async def test_call_returns_recorded_mainnet_answer(misbehaving: tuple[str, Misbehaving]) -> None:
    url, _ = misbehaving
    async with client(f"{url}/good") as rpc:
        assert await rpc.call("eth_chainId") == "0x1"
        block = await rpc.call("eth_getBlockByNumber", [BLOCK, False])
        assert block["hash"] == BLOCK_HASH
        assert await rpc.call("eth_getBlockByNumber", ["0x1", False]) is None


@pytest.mark.parametrize("bad", ["dead", "garbage", "http500", "http429", "truncated", "wrongid", "noresult"])
async def test_failover_to_healthy_endpoint(misbehaving: tuple[str, Misbehaving], dead_url: str, bad: str) -> None:
    url, handler = misbehaving
    first = dead_url if bad == "dead" else f"{url}/{bad}"
    async with client(first, f"{url}/good") as rpc:
        for _ in range(3):
            assert await rpc.call("eth_chainId") == "0x1"
        status = {s["url"]: s for s in rpc.endpoint_status()}
        broken, healthy = status[first], status[f"{url}/good"]
        assert broken["score"] < healthy["score"] and broken["last_error"]
        assert healthy["healthy"] and healthy["last_error"] is None
        # The broken endpoint stops being asked once a healthier one is known.
        if bad != "dead":
            assert handler.seen.get(bad, 0) <= 2
        assert handler.seen["good"] == 3


async def test_dead_endpoint_is_marked_unhealthy_then_retried(misbehaving: tuple[str, Misbehaving],
                                                              dead_url: str) -> None:
    url, _ = misbehaving
    async with client(dead_url, f"{url}/good", failures_before_dead=1, dead_cooldown=0.0) as rpc:
        await rpc.call("eth_chainId")
        assert rpc.endpoint_status()[0]["score"] == 0.5
        # With no cooldown the dead endpoint becomes available again and is retried (and fails again).
        rpc.endpoints[1].score = 0.1
        await rpc.call("eth_chainId")
        assert rpc.endpoints[0].errors == 2


@pytest.mark.parametrize("bad", ["garbage", "truncated", "wrongid", "noresult"])
async def test_malformed_answers_are_typed_errors(misbehaving: tuple[str, Misbehaving], bad: str) -> None:
    url, _ = misbehaving
    async with client(f"{url}/{bad}", max_attempts=2) as rpc:
        with pytest.raises(MalformedResponseError):
            await rpc.call("eth_chainId")


async def test_all_endpoints_down(dead_url: str) -> None:
    async with client(dead_url, dead_url + "/other", max_attempts=3) as rpc:
        with pytest.raises(AllEndpointsFailedError):
            await rpc.call("eth_chainId")
        assert not any(s["healthy"] for s in rpc.endpoint_status()) or rpc.endpoints[0].errors >= 1


async def test_node_error_is_not_retried(misbehaving: tuple[str, Misbehaving]) -> None:
    url, handler = misbehaving
    async with client(f"{url}/good") as rpc:
        with pytest.raises(NodeError) as info:
            await rpc.call("eth_noSuchMethod")
        assert info.value.code == -32601
        assert handler.seen["good"] == 1


async def test_batch_matches_results_by_id(misbehaving: tuple[str, Misbehaving]) -> None:
    url, handler = misbehaving
    calls = [("eth_chainId", []), ("eth_getBlockByNumber", [BLOCK, False]), ("eth_getBlockReceipts", [BLOCK])]
    async with client(f"{url}/reversed") as rpc:
        chain_id, block, receipts = await rpc.batch(calls)
        assert chain_id == "0x1" and block["hash"] == BLOCK_HASH and len(receipts) == 94
        assert handler.seen["reversed"] == 1
        assert await rpc.batch([]) == []


async def test_batch_item_error_is_raised_typed(misbehaving: tuple[str, Misbehaving]) -> None:
    url, _ = misbehaving
    async with client(f"{url}/good") as rpc:
        with pytest.raises(NodeError):
            await rpc.batch([("eth_chainId", []), ("eth_noSuchMethod", [])])


async def test_batch_splits_when_node_caps_batch_size(misbehaving: tuple[str, Misbehaving]) -> None:
    url, _ = misbehaving
    async with client(f"{url}/batchlimit", max_batch_size=8) as rpc:
        results = await rpc.batch([("eth_chainId", [])] * 7)
        assert results == ["0x1"] * 7
        assert rpc.max_batch_size <= 2


async def test_batch_chunks_large_requests(misbehaving: tuple[str, Misbehaving]) -> None:
    url, handler = misbehaving
    async with client(f"{url}/good", max_batch_size=10) as rpc:
        results = await rpc.batch([("eth_blockNumber", [])] * 25)
        assert len(results) == 25 and len(set(results)) == 1
        assert handler.seen["good"] == 3


async def test_rate_limit_spaces_requests(misbehaving: tuple[str, Misbehaving]) -> None:
    url, _ = misbehaving
    rate = 20.0
    async with client(f"{url}/good", rate_limit=rate, burst=1) as rpc:
        started = time.monotonic()
        for _ in range(5):
            await rpc.call("eth_chainId")
        # A lower bound only: five requests at 20/s with no burst cannot all leave within 4 intervals.
        assert time.monotonic() - started >= 4 / rate * 0.9


def test_redacts_key_like_url_parts() -> None:
    assert redact_url("https://eth-mainnet.g.alchemy.com/v2/abcDEF1234567890abcdef12") == \
        "https://eth-mainnet.g.alchemy.com/v2/***"
    assert redact_url("https://rpc.ankr.com/eth") == "https://rpc.ankr.com/eth"
    assert redact_url("https://x.io/rpc?apikey=1") == "https://x.io/rpc?***"
