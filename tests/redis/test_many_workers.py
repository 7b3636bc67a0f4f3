"""Many workers, one account: rate limit, pause and token shared through a real Redis.

Each worker is its own process with its own ``Client``; they share only the
Redis key. The emulator is served on loopback and records when each request
arrived.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG
from tests.redis.conftest import RedisServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=5, duplicate_window=0).serve() as server:
        yield server


def start_workers(
    served: EmulatorServer,
    redis_server: RedisServer,
    *,
    workers: int,
    each: int,
    rate: float,
    on_error: str = "fail",
) -> list[subprocess.Popen[str]]:
    first = min(served.fake.contacts)
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.redis.worker",
                served.base_url,
                str(redis_server.port),
                "bsg:test",
                str(rate),
                str(first),
                str(each),
                on_error,
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    # Every worker imported and ready before any starts: the job is measured,
    # not the processes' start-up.
    for process in processes:
        assert process.stdout is not None
        assert "ready" == process.stdout.readline().strip()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    return processes


def finish(processes: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert 0 == process.returncode
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def gets(fake: FakeBSG) -> list[float]:
    """Arrival times of everything but logins and refreshes (those are paced too, but rare)."""
    return fake.request_times[-fake.stats["route:contact_get"] :]


def worst_window(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_four_workers_keep_one_rate_limit(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """4 workers x 150 requests at rate_limit=50: at most 60 in any second; about 12 s in all.

    The workers release at most 50 a second plus a burst of 5. Counted where
    they arrive, a request held up on its way (a busy core) lands in the next
    window: 0.1 s of such jitter is allowed (5 more). Unlimited, the 600 would
    arrive within about a second.
    """
    started = time.monotonic()
    results = finish(start_workers(served, redis_server, workers=4, each=150, rate=50))
    elapsed = time.monotonic() - started
    times = gets(served.fake)
    assert [150] * 4 == [r["ok"] for r in results]
    assert 600 == len(times)
    assert worst_window(times) <= 60
    assert 600 / 50 - 0.5 <= times[-1] - times[0] <= 600 / 50 + 1.0
    assert elapsed < 600 / 50 + 10
    assert 1 == served.fake.stats["logins"]


def test_a_retry_after_seen_by_one_pauses_all_and_moves_the_schedule(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """4 workers at rate_limit=20, a 429 with Retry-After: 2 mid-job.

    No worker sends for 2 s; when the pause ends, sends resume at the limit's
    pace (the turns reserved before the pause were pushed back by it), so no
    one-second window holds more than 20 + the burst of 2 (+ 2 for arrival
    jitter on a busy core), and the job takes at least 120 / 20 + 2 s.
    Before the fix: 42 requests within 0.1 s of the pause's end, a worst
    window of 60.
    """
    fake = served.fake
    processes = start_workers(served, redis_server, workers=4, each=30, rate=20)
    deadline = time.monotonic() + 30
    while fake.stats["route:contact_get"] < 30 and time.monotonic() < deadline:
        time.sleep(0.005)
    before = len(fake.request_times)
    fake.throttle(2.0)
    results = finish(processes)
    assert [30] * 4 == [r["ok"] for r in results]
    assert 1 == fake.stats["throttled"]
    throttled_at, *after = fake.request_times[before:]
    # Requests already on the wire when the 429 went out may still arrive in
    # the next few milliseconds; nothing is sent after that for 2 s.
    late = [round(t - throttled_at, 3) for t in after if 0.05 < t - throttled_at < 2.0]
    assert [] == late
    times = gets(fake)
    resumed = [t for t in times if t >= throttled_at + 2.0]
    assert worst_window(times) <= 20 + 2 + 2
    assert sum(1 for t in resumed if t < resumed[0] + 0.1) <= 2 + 2
    assert times[-1] - times[0] >= (120 - 2) / 20 + 2.0 - 0.2


def test_workers_pace_alone_while_redis_is_down_and_together_again_after(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """4 workers, on_error="local", rate_limit=20: Redis killed mid-job, then restarted.

    No request fails. While Redis is down each worker paces itself (the
    limit per worker); once it answers again and each worker's retry
    interval has passed, they share one limit again without a restart: no
    one-second window after that holds more than 20 + the burst of 2 (+ 2
    for arrival jitter).
    """
    fake = served.fake
    processes = start_workers(served, redis_server, workers=4, each=100, rate=20, on_error="local")
    deadline = time.monotonic() + 30
    while fake.stats["route:contact_get"] < 30 and time.monotonic() < deadline:
        time.sleep(0.005)
    redis_server.kill()
    time.sleep(1.0)
    redis_server.start()
    back = fake.now()
    results = finish(processes)
    assert [100] * 4 == [r["ok"] for r in results]
    assert [{}] * 4 == [r["errors"] for r in results]
    # A worker whose every request held a turn reserved before the kill may
    # never have asked Redis while it was down.
    assert sum(r["outages"] for r in results) >= 2
    shared_again = [t for t in gets(fake) if t > back + 2.0 + 0.5]  # retry_interval, then a turn
    assert len(shared_again) > 60
    assert worst_window(shared_again) <= 20 + 2 + 2


def test_short_tokens_one_login_for_all_workers(redis_server: RedisServer) -> None:
    """4 workers, 3 s tokens, a 10 s job: logins + refreshes within lifetimes + 2, no failure."""
    with FakeBSG(seed_contacts=5, duplicate_window=0, token_ttl=3.0).serve() as served:
        started = time.monotonic()
        results = finish(start_workers(served, redis_server, workers=4, each=125, rate=50))
        elapsed = time.monotonic() - started
        stats = served.fake.stats
    assert [125] * 4 == [r["ok"] for r in results]
    assert [{}] * 4 == [r["errors"] for r in results]
    assert 0 == stats["expired_tokens"]
    assert stats["logins"] + stats["refreshes"] <= elapsed / 3.0 + 2
    assert 1 == stats["logins"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_down_fails_fast_then_resumes(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """Redis killed: a typed error and nothing sent (fail-fast); Redis back: calls work again.

    After a failure Redis is not tried for ``retry_interval`` (each call fails
    at once); the first call after it tries Redis again.
    """
    store = redis.asyncio.Redis(port=redis_server.port)
    first = min(served.fake.contacts)
    now = [0.0]
    shared = bsg_async.RedisCoordination(store, key="bsg:down", clock=lambda: now[0])
    async with bsg_async.Client(
        DEFAULT_KEY, base_url=served.base_url, rate_limit=50, shared=shared
    ) as client:
        assert first == (await client.contacts.get(first)).id
        redis_server.kill()
        sent = served.fake.stats["route:contact_get"]
        with pytest.raises(bsg_async.CoordinationError, match="nothing was sent"):
            await client.contacts.get(first)
        assert sent == served.fake.stats["route:contact_get"]
        await anyio.to_thread.run_sync(redis_server.start)
        with pytest.raises(bsg_async.CoordinationError, match="not tried again yet"):
            await client.contacts.get(first)
        now[0] += shared.retry_interval
        assert first == (await client.contacts.get(first)).id
    await store.aclose()
    assert 1 == shared.outages


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_down_paces_locally_when_allowed(
    served: EmulatorServer, redis_server: RedisServer
) -> None:
    """on_error="local": with Redis gone the worker goes on alone, and says so once."""
    store = redis.asyncio.Redis(port=redis_server.port)
    first = min(served.fake.contacts)
    shared = bsg_async.RedisCoordination(store, key="bsg:local", on_error="local")
    async with bsg_async.Client(
        DEFAULT_KEY, base_url=served.base_url, rate_limit=50, shared=shared
    ) as client:
        await client.contacts.get(first)
        redis_server.kill()
        got = [c.id async for c in client.contacts.get_many([first] * 5, concurrency=1)]
    await store.aclose()
    assert [first] * 5 == got
    assert shared.fallbacks >= 5


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_redis_coordination_refuses_trio(served: EmulatorServer) -> None:
    """redis-py is asyncio-only: on trio the first call fails clearly, before sending."""
    shared = bsg_async.RedisCoordination(redis.asyncio.Redis(port=1), key="bsg:trio")
    async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url, shared=shared) as client:
        with pytest.raises(bsg_async.InvalidRequestError, match="asyncio only"):
            await client.contacts.get(1)
    assert 0 == sum(n for k, n in served.fake.stats.items() if k.startswith("route:"))
