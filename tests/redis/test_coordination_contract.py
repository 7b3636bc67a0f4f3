"""One contract, two implementations: this client's own coordination and Redis'.

The pacing and auth layers hold a ``Coordination`` and never ask which one;
so each test here runs against ``LocalCoordination`` and against
``RedisShared`` over a real redis-server on loopback, with the same
expectations.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest
import redis.asyncio

import bsg_async
from bsg_async._coordination import Coordination, LocalCoordination
from bsg_async._redis import RedisShared
from tests.redis.conftest import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

RATE = 10.0
_KEYS = itertools.count()


@pytest.fixture(params=["local", "redis"])
async def coordination(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[Coordination]:
    local = LocalCoordination(rate=RATE, burst=1)
    if request.param == "local":
        yield local
        return
    store = redis.asyncio.Redis(port=redis_server.port)
    shared = bsg_async.RedisCoordination(store, key=f"bsg:contract:{next(_KEYS)}")
    try:
        yield RedisShared(shared, local, clock=time.monotonic, sleep=anyio.sleep)
    finally:
        await store.aclose()


async def test_turns_are_spaced_at_the_rate(coordination: Coordination) -> None:
    """Five turns taken back to back start 1/rate apart, whatever time the calls took."""
    start = time.monotonic()
    spans = []
    for _ in range(5):
        before = time.monotonic() - start
        wait, _generation = await coordination.reserve_turn()
        after = time.monotonic() - start
        spans.append((before, wait, after))
    # A turn is decided at some moment between "before" and "after" (for Redis,
    # on the server), and starts "wait" after that moment. Turn i starts
    # i / rate after turn 0, which started somewhere in turn 0's window: so the
    # two windows, shifted by i / rate, overlap, however long each call took.
    first_before, first_wait, first_after = spans[0]
    assert 0.0 == first_wait
    for index, (before, wait, after) in enumerate(spans):
        earliest, latest = before + wait, after + wait
        assert earliest <= first_after + index / RATE + 0.002
        assert latest >= first_before + index / RATE - 0.002


async def test_a_pause_moves_the_turns_and_voids_the_generation(
    coordination: Coordination,
) -> None:
    """After pause(0.5) the next turn waits for its end, under a new generation."""
    _, before = await coordination.pause_state()
    await coordination.pause(0.5)
    left, generation = await coordination.pause_state()
    wait, turn_generation = await coordination.reserve_turn()
    assert (before + 1, before + 1) == (generation, turn_generation)
    assert 0.4 < left <= 0.5
    assert 0.4 < wait <= 0.5
    # A shorter pause inside a longer one changes nothing.
    await coordination.pause(0.1)
    assert generation == (await coordination.pause_state())[1]


async def test_the_token_store(coordination: Coordination) -> None:
    """A stored token is loaded back; an already expired one is not stored."""
    assert await coordination.load_token() is None
    await coordination.store_token("first", 60.0)
    await coordination.store_token("spent", 0.0)
    assert "first" == await coordination.load_token()
    await coordination.store_token("second", None)
    assert "second" == await coordination.load_token()


async def test_the_renewal_lock(coordination: Coordination) -> None:
    """One holder at a time; only the holder's value releases it."""
    held = await coordination.acquire()
    assert held is not None
    assert await coordination.acquire() is None
    await coordination.release("not-the-holder")
    assert await coordination.acquire() is None
    await coordination.release(held)
    again = await coordination.acquire()
    assert again is not None
    assert again != held


async def test_waiting_for_the_holder(coordination: Coordination) -> None:
    """A waiter gets the holder's new token; with the lock given back and none, None."""
    await coordination.store_token("old", 60.0)
    held = await coordination.acquire()
    assert held is not None
    got: list[str | None] = []

    async def wait() -> None:
        got.append(await coordination.wait_for_change("old"))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.lowlevel.checkpoint()  # the waiter has looked once and found "old"
            await coordination.store_token("new", 60.0)
    assert ["new"] == got
    # The holder gives the lock back without a newer token: a waiter learns
    # that nobody is renewing (and takes the lock itself).
    await coordination.release(held)
    with anyio.fail_after(5):
        assert await coordination.wait_for_change("new") is None
