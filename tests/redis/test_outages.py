"""Redis going away and coming back, and hostile Retry-After values, with a real redis-server.

The client runs in this process (redis-py is asyncio-only); the emulator is
served on loopback and counts what reached it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import pytest
import redis.asyncio

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG
from tests.redis.conftest import RedisServer
from tests.test_hostile import reachable_text

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

RATE = 20


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=5, duplicate_window=0, token_ttl=2.0).serve() as server:
        yield server


async def test_local_keeps_pacing_and_renewing_while_redis_is_down(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """on_error="local": Redis killed mid-job, then restarted; no call fails.

    Within a second of the kill calls complete at >= half the limit; the 2 s
    tokens keep being renewed by this worker alone; once Redis answers again
    the worker paces through it again, without a restart.
    """
    fake = served.fake
    first = min(fake.contacts)
    store = redis.asyncio.Redis(port=redis_server.port)
    shared = bsg_async.RedisCoordination(store, key="bsg:outage", on_error="local")
    done: list[float] = []
    errors: list[BaseException] = []
    async with bsg_async.Client(
        DEFAULT_KEY, base_url=served.base_url, rate_limit=RATE, max_concurrency=4, shared=shared
    ) as client:

        async def work() -> None:
            while True:
                try:
                    await client.contacts.get(first)
                except bsg_async.BSGError as exc:
                    errors.append(exc)
                done.append(anyio.current_time())

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(work)
            await anyio.sleep(1.5)
            renewals_before = fake.stats["logins"] + fake.stats["refreshes"]
            await anyio.to_thread.run_sync(redis_server.kill)
            killed = anyio.current_time()
            await anyio.sleep(4.5)  # two token lifetimes without Redis
            renewals_down = fake.stats["logins"] + fake.stats["refreshes"] - renewals_before
            await anyio.to_thread.run_sync(redis_server.start)
            await anyio.sleep(shared.retry_interval + 1.0)
            fallbacks = shared.fallbacks
            shared_turns = await store.exists("bsg:outage:tat")
            await anyio.sleep(1.0)
            group.cancel_scope.cancel()
    await store.aclose()
    assert [] == errors
    assert 0 == fake.stats["expired_tokens"]
    first_second = [t for t in done if killed + 1.0 <= t < killed + 2.0]
    assert len(first_second) >= RATE / 2
    assert renewals_down >= 2
    assert 1 == shared.outages
    assert fallbacks == shared.fallbacks  # back on Redis: no local decision since
    assert 1 == shared_turns


async def test_fail_raises_within_the_bound_and_sends_nothing(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """on_error="fail": CoordinationError within `timeout`, then at once; nothing sent."""
    fake = served.fake
    first = min(fake.contacts)
    store = redis.asyncio.Redis(port=redis_server.port)
    shared = bsg_async.RedisCoordination(store, key="bsg:fail", timeout=0.25)
    async with bsg_async.Client(
        DEFAULT_KEY, base_url=served.base_url, rate_limit=RATE, shared=shared
    ) as client:
        await client.contacts.get(first)
        redis_server.kill()
        sent = fake.stats["route:contact_get"]
        took = []
        for _ in range(2):
            start = anyio.current_time()
            with pytest.raises(bsg_async.CoordinationError, match="nothing was sent"):
                await client.contacts.get(first)
            took.append(anyio.current_time() - start)
    await store.aclose()
    assert sent == fake.stats["route:contact_get"]
    # The first call waits out the bound (redis-py would retry for seconds);
    # the second does not try Redis at all.
    assert 0.2 <= took[0] < 0.25 + 0.5
    assert took[1] < 0.1


@pytest.mark.parametrize(
    ("value", "waited"),
    [
        ("1000000000", False),
        ("inf", True),
        ("nan", True),
        ("-5", True),
        ("soon", True),
    ],
)
async def test_a_hostile_retry_after_never_pauses_past_the_ceiling(
    served: EmulatorServer, redis_server: RedisServer, value: str, waited: bool
) -> None:
    """Retry-After huge, infinite, NaN, negative or garbage: a typed error at once or a backoff.

    Two workers share one Redis key with max_retry_after=1: the shared pause
    never outlasts 1 s (Redis' own expiry of it included), and the other
    worker's next call goes through.
    """
    fake = served.fake
    first = min(fake.contacts)
    store = redis.asyncio.Redis(port=redis_server.port)
    options = {"base_url": served.base_url, "max_retry_after": 1.0, "retry_backoff": 0.01}
    one = bsg_async.RedisCoordination(store, key="bsg:hostile")
    two = bsg_async.RedisCoordination(store, key="bsg:hostile")
    async with (
        bsg_async.Client(DEFAULT_KEY, shared=one, **options) as worker,  # type: ignore[arg-type]
        bsg_async.Client(DEFAULT_KEY, shared=two, **options) as other,  # type: ignore[arg-type]
    ):
        await worker.contacts.get(first)
        await other.contacts.get(first)
        body = json.dumps({"message": "Too Many Attempts."}).encode()
        fake.answer_next(429, body, {"content-type": "application/json", "retry-after": value})
        start = anyio.current_time()
        if waited:
            assert first == (await worker.contacts.get(first)).id  # backoff, then a retry
        else:
            with pytest.raises(
                bsg_async.RateLimitError, match="more than max_retry_after=1 s"
            ) as info:
                await worker.contacts.get(first)
            assert 1e9 == info.value.retry_after
        ended = anyio.current_time() - start
        pause_ms = await store.pttl("bsg:hostile:pause")
        with anyio.fail_after(5):
            assert first == (await other.contacts.get(first)).id
        after = anyio.current_time() - start
    await store.aclose()
    assert ended < 0.5
    assert pause_ms <= 2000  # ceiling 1 s, plus the key's 1 s of grace
    assert after < 1.0 + 0.5


async def test_a_redis_password_is_not_reachable_from_coordination_errors(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """A wrong Redis password: CoordinationError, and the password in none of its text or frames."""
    admin = redis.asyncio.Redis(port=redis_server.port)
    await admin.config_set("requirepass", "the-real-one")
    await admin.aclose()
    store = redis.asyncio.Redis(port=redis_server.port, password="WRONG_redis_PASSWORD")
    shared = bsg_async.RedisCoordination(store, key="bsg:auth")
    async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url, shared=shared) as client:
        with pytest.raises(bsg_async.CoordinationError) as info:
            await client.contacts.get(min(served.fake.contacts))
    await store.aclose()
    text = reachable_text(info.value)
    assert "unreachable" in text
    assert "WRONG_redis_PASSWORD" not in text
