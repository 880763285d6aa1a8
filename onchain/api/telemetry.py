"""What `/metrics` exposes, one Prometheus registry per app so tests and replicas never share counters.

The names map the architecture's CloudWatch metrics: WebSocket/ActiveConnections,
API/ResponseTime, Database/QueryTime, Cache/HitRatio, plus ingest head and lag per chain and the
WebSocket delivery counters.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from onchain.api.ws_hub import Hub

T = TypeVar("T")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _LiveCollector(Collector):
    """Reads live counters (hub, cache) at scrape time instead of mirroring every increment."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def collect(self) -> Iterator[Metric]:
        hub = self.telemetry.hub
        stats = hub.stats
        hits, misses = self.telemetry.cache_hits, self.telemetry.cache_misses
        yield CounterMetricFamily("onchain_cache_hits", "Cache lookups that hit", value=hits)
        yield CounterMetricFamily("onchain_cache_misses", "Cache lookups that missed", value=misses)
        yield GaugeMetricFamily(
            "onchain_cache_hit_ratio", "Cache hits / lookups (1 before any lookup)",
            value=hits / (hits + misses) if hits + misses else 1.0,
        )
        yield GaugeMetricFamily(
            "onchain_websocket_active_connections", "Open /v2/realtime connections", value=hub.connections
        )
        yield CounterMetricFamily(
            "onchain_websocket_messages_delivered", "Updates handed to WebSocket clients", value=stats.updates_delivered
        )
        yield CounterMetricFamily(
            "onchain_websocket_frames_sent", "WebSocket frames sent (one frame may hold several updates)",
            value=stats.frames_sent,
        )
        yield CounterMetricFamily(
            "onchain_websocket_updates_published", "Updates that entered the fan-out", value=stats.updates_published
        )
        yield CounterMetricFamily(
            "onchain_websocket_slow_consumers", "Clients dropped for falling behind", value=stats.slow_consumers
        )


class Telemetry:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.cache_hits = 0
        self.cache_misses = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_LiveCollector(self))
        self.response_time = Histogram(
            "onchain_api_response_time_seconds", "REST response time by route",
            ["method", "route"], registry=self.registry, buckets=LATENCY_BUCKETS,
        )
        self.db_query_time = Histogram(
            "onchain_database_query_time_seconds", "Database query time by operation",
            ["operation"], registry=self.registry, buckets=LATENCY_BUCKETS,
        )
        self.chain_head = Gauge("onchain_ingest_head_block", "Newest stored block", ["chain"], registry=self.registry)
        self.chain_lag = Gauge(
            "onchain_ingest_lag_seconds", "Wall clock minus the newest stored block's timestamp",
            ["chain"], registry=self.registry,
        )

    def count_cache(self, hit: bool) -> None:
        """Count one cache lookup (called by whoever owns a cache: the market service, the routes)."""
        if hit:
            self.cache_hits += 1
        else:
            self.cache_misses += 1

    @contextmanager
    def db_timer(self, operation: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.db_query_time.labels(operation).observe(time.perf_counter() - start)

    async def timed_db(self, operation: str, query: Awaitable[T]) -> T:
        """Await a store call and record how long it took under `operation`."""
        with self.db_timer(operation):
            return await query

    def set_chain(self, chain: str, head: int, lag_seconds: float) -> None:
        self.chain_head.labels(chain).set(head)
        self.chain_lag.labels(chain).set(lag_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
