"""The Redis coordination's round trips as an OpenTelemetry histogram (a real redis-server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG
from tests.redis.conftest import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py runs on asyncio only


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=3).serve() as running:
        yield running


async def test_round_trips_to_redis_are_timed(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """Two clients on one meter and one coordination: each round trip counted once."""
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    store = redis.asyncio.Redis(port=redis_server.port)
    shared = bsg_async.RedisCoordination(store, key="bsg:metrics")
    first = min(served.fake.contacts)
    try:
        clients = [
            bsg_async.Client(
                DEFAULT_KEY,
                base_url=served.base_url,
                trust_env=False,
                shared=shared,
                rate_limit=100,
                meter_provider=meters,
            )
            for _ in range(2)
        ]
        for client in clients:
            async with client:
                await client.contacts.get(first)
    finally:
        await store.aclose()
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "bsg.redis.duration"
        for point in metric.data.data_points
    ]
    assert 1 == len(points)
    (point,) = points
    assert isinstance(point, HistogramDataPoint)
    # The first client: its token (look, lock, store, unlock), a turn, the
    # pause state; the second: the token it finds, a turn, the pause state.
    assert 8 == point.count
    assert 0 < point.sum < point.count * 1.0  # seconds, each well under one
