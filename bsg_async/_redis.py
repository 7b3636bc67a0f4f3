"""Pacing state and the token shared by many workers, through Redis.

``RedisCoordination`` (public) speaks to Redis; ``RedisShared`` is the
``Coordination`` a client's layers hold: Redis first, this client alone
(a ``LocalCoordination``) while Redis is down and ``on_error="local"``.

Several processes (web workers, job runners, notebooks) using one BSG
account each run a ``Client``. Given the same ``RedisCoordination`` key, they
share what one client otherwise keeps to itself:

* the rate limit: a GCRA reservation in one Lua script, on Redis' clock, so
  all workers together stay within ``rate_limit`` (plus the burst);
* the pause a ``Retry-After`` asks for, seen by one worker, kept by all;
* the JWT: one login serves every worker; a refresh or re-login is
  single-flight across processes (a lock that expires by itself), and a
  worker that finds a fresher token in Redis uses it.

Every decision is one atomic round trip (a script or a single command).
Only the JWT is stored, with the lifetime it has left; never the API key.
redis-py's asyncio client (``pip install "bsg-async[redis]"``; Valkey works
the same) runs on asyncio only.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from bsg_async._errors import CoordinationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bsg_async._coordination import LocalCoordination

__all__ = ["RedisCoordination", "RedisShared"]

T = TypeVar("T")

logger = logging.getLogger("bsg_async")

# Reserve the next send time: GCRA with the tolerance of ``burst`` requests,
# starting no earlier than the end of a shared pause. Returns the seconds to
# wait (a string: Lua numbers lose their fraction on the way back) and the
# pause generation (a turn reserved before a later pause is void).
_RESERVE = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < now then tat = now end
if tat < pause + tolerance then tat = pause + tolerance end
local send_at = tat - tolerance
if send_at < now then send_at = now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {tostring(send_at - now), tonumber(redis.call('GET', KEYS[3]) or '0')}
"""
# Seconds left of the shared pause, and the pause generation.
_PAUSED_FOR = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local pause = tonumber(redis.call('GET', KEYS[1]) or '0')
return {tostring(math.max(pause - now, 0)), tonumber(redis.call('GET', KEYS[2]) or '0')}
"""
# Pause everyone until ``seconds`` from now, unless a longer pause is on. The
# schedule moves with it: turns start again at the pause's end (the rate's
# pace from there), and the generation tells holders of earlier turns that
# theirs are void.
_PAUSE = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untill = now + tonumber(ARGV[1])
local pause = tonumber(redis.call('GET', KEYS[1]) or '0')
if untill > pause then
  local px = math.ceil(tonumber(ARGV[1]) * 1000) + 1000
  redis.call('SET', KEYS[1], tostring(untill), 'PX', px)
  redis.call('SET', KEYS[2], tostring(untill), 'PX', px)
  redis.call('INCR', KEYS[3])
end
return 1
"""
# Release a lock only if this worker still holds it.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCoordination:
    """Share rate limit, pause and token between clients through one Redis key prefix.

    ``Client(..., rate_limit=50, shared=RedisCoordination(redis_client, key="bsg:acct1"))``
    in every worker: together they send at most 50 requests per second.

    Args:
        redis: A ``redis.asyncio.Redis`` client (or Valkey's).
        key: Prefix of the keys used; one per BSG account.
        on_error: When Redis cannot be reached: ``"fail"`` raises
            ``CoordinationError`` before sending (an account's limits are
            never exceeded silently); ``"local"`` paces this worker alone
            (its own rate limit, its own login) until Redis answers again.
        lock_timeout: Seconds a login lock lives if its holder dies.
        timeout: Seconds one coordination call may take, whatever retries
            the Redis client would make on its own: past it, Redis counts
            as unreachable.
        retry_interval: Seconds after a failure during which Redis is not
            tried again (every call decides at once, locally or with
            ``CoordinationError``); then one call tries it again.
        clock: Monotonic seconds (tests).

    Attributes:
        fallbacks: Decisions made locally because Redis was unreachable.
        outages: Times Redis was found unreachable after answering.
    """

    def __init__(
        self,
        redis: Any,  # noqa: ANN401 - redis.asyncio.Redis, not imported here
        *,
        key: str,
        on_error: Literal["fail", "local"] = "fail",
        lock_timeout: float = 10.0,
        timeout: float = 0.25,
        retry_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if on_error not in {"fail", "local"}:
            raise ValueError(f'on_error must be "fail" or "local", got {on_error!r}')
        for name, value in (("timeout", timeout), ("retry_interval", retry_interval)):
            if not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        self.redis = redis
        self.key = key
        self.on_error = on_error
        self.lock_timeout = lock_timeout
        self.timeout: float = float(timeout)
        self.retry_interval: float = float(retry_interval)
        self._clock = clock
        self._down_until: float | None = None  # None: Redis answered last time
        self._down_reason = ""
        self.outages: int = 0
        self._reserve = redis.register_script(_RESERVE)
        self._paused_for = redis.register_script(_PAUSED_FOR)
        self._pause = redis.register_script(_PAUSE)
        self._unlock = redis.register_script(_UNLOCK)
        self.fallbacks: int = 0
        # Where each round trip's duration goes: the histogram of every client
        # made with this coordination (one entry per histogram, so clients on
        # the same meter do not count a round trip twice).
        self._timers: dict[int, Callable[[float], object]] = {}

    def __repr__(self) -> str:
        return f"RedisCoordination(key={self.key!r}, on_error={self.on_error!r})"

    def _keys(self, name: str) -> str:
        return f"{self.key}:{name}"

    def _unreachable(self, reason: str) -> CoordinationError:
        return CoordinationError(
            f"Redis coordinating key {self.key!r} is unreachable ({reason});"
            " nothing was sent, so the account's shared limits hold"
        )

    @property
    def available(self) -> bool:
        """False while Redis is taken as down (after a failure, for ``retry_interval``)."""
        return self._down_until is None or self._clock() >= self._down_until

    async def _call(self, coroutine: Any) -> Any:  # noqa: ANN401 - redis answers
        from redis.exceptions import RedisError  # noqa: PLC0415 - the redis extra

        if not self.available:
            coroutine.close()  # never started: nothing to clean up
            raise self._unreachable(f"{self._down_reason}; not tried again yet")
        started = time.perf_counter()
        try:
            with anyio.fail_after(self.timeout):
                answer = await coroutine
        except TimeoutError:
            self._went_down(f"no answer within {self.timeout:g} s")
        except (RedisError, OSError) as exc:
            # The cause is summarised, not chained: redis-py's frames hold
            # its connection settings, a password among them.
            self._went_down(f"{type(exc).__name__}: {exc}")
        else:
            if self._down_until is not None:
                self._down_until = None
                logger.warning("Redis answers again: shared pacing and token resumed")
            if self._timers:
                took = time.perf_counter() - started
                for record in self._timers.values():
                    record(took)
            return answer
        raise self._unreachable(self._down_reason)

    def time_with(self, key: int, record: Callable[[float], object]) -> None:
        """Send each round trip's duration (seconds) to ``record`` (one per ``key``)."""
        self._timers[key] = record

    def _went_down(self, reason: str) -> None:
        if self._down_until is None:
            self.outages += 1
            logger.warning(
                "Redis unreachable (%s): %s for the next %g s at least",
                reason,
                "pacing this worker alone" if self.on_error == "local" else "failing calls",
                self.retry_interval,
            )
        self._down_reason = reason
        self._down_until = self._clock() + self.retry_interval

    async def reserve(self, rate: float, burst: float) -> float:
        """Reserve a send time for one request; return the seconds to wait for it."""
        return (await self.reserve_turn(rate, burst))[0]

    async def reserve_turn(self, rate: float, burst: float) -> tuple[float, int]:
        """Reserve a send time: (seconds to wait for it, pause generation).

        When the generation has changed by the time the wait is over, a pause
        began meanwhile and the turn is void: reserve again.
        """
        interval = 1.0 / rate
        tolerance = interval * max(burst - 1.0, 0.0)
        keys = [self._keys("tat"), self._keys("pause"), self._keys("generation")]
        wait, generation = await self._call(self._reserve(keys=keys, args=[interval, tolerance]))
        return float(wait), int(generation)

    async def paused_for(self) -> float:
        """Seconds left of a pause some worker was asked for."""
        return (await self.pause_state())[0]

    async def pause_state(self) -> tuple[float, int]:
        """(Seconds left of the shared pause, pause generation)."""
        keys = [self._keys("pause"), self._keys("generation")]
        left, generation = await self._call(self._paused_for(keys=keys))
        return float(left), int(generation)

    async def pause(self, seconds: float) -> None:
        """Hold back every worker for ``seconds`` from now; turns resume at the rate after."""
        keys = [self._keys("pause"), self._keys("tat"), self._keys("generation")]
        await self._call(self._pause(keys=keys, args=[seconds]))

    async def load_token(self) -> str | None:
        """The JWT some worker stored, if it has not expired."""
        value = await self._call(self.redis.get(self._keys("token")))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def store_token(self, token: str, lifetime: float | None) -> None:
        """Share a fresh JWT; it expires from Redis with its own lifetime."""
        if lifetime is not None and lifetime <= 0:
            return
        px = None if lifetime is None else max(1, int(lifetime * 1000))
        await self._call(self.redis.set(self._keys("token"), token, px=px))

    async def acquire(self) -> str | None:
        """Try to take the login lock once; return its value when taken."""
        value = secrets.token_hex(8)
        taken = await self._call(
            self.redis.set(
                self._keys("login-lock"), value, nx=True, px=int(self.lock_timeout * 1000)
            )
        )
        return value if taken else None

    async def release(self, value: str) -> None:
        """Give the login lock back (only if still ours)."""
        await self._call(self._unlock(keys=[self._keys("login-lock")], args=[value]))

    async def wait_for_change(
        self,
        seen: str | None,
        *,
        poll: float = 0.025,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    ) -> str | None:
        """Wait until the shared token differs from ``seen`` or the lock is free.

        Returns the new token, or None when the lock came free without one
        (its holder failed; the caller takes the lock and logs in itself),
        or after ``lock_timeout`` on this coordination's clock. ``sleep``
        waits between looks (the client's, so tests can inject one).
        """
        give_up = self._clock() + self.lock_timeout
        while self._clock() < give_up:
            token = await self.load_token()
            if token is not None and token != seen:
                return token
            if not await self._call(self.redis.exists(self._keys("login-lock"))):
                return None
            await sleep(poll)
        return None


class RedisShared:
    """The ``Coordination`` of one client's layer through Redis, with a local fallback.

    Every decision goes to Redis. When it cannot be reached and the
    coordination says ``on_error="local"``, the same decision is taken by
    ``local`` (this client alone) and counted in ``fallbacks``; with
    ``"fail"`` the ``CoordinationError`` goes up and nothing is sent. Pauses
    and tokens are also kept in ``local``, so a fallback starts from what
    this client last knew.
    """

    def __init__(
        self,
        shared: RedisCoordination,
        local: LocalCoordination,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]],
    ) -> None:
        self.shared = shared
        self.local = local
        self._clock = clock
        self._sleep = sleep
        self._fell_back = False  # the last turn was reserved locally

    async def _either(self, remote: Awaitable[T], local: Callable[[], Awaitable[T]]) -> T:
        """Redis' answer, or the local one while Redis is down (when allowed)."""
        try:
            return await remote
        except CoordinationError:
            if self.shared.on_error != "local":
                raise
            self.shared.fallbacks += 1
            return await local()

    @property
    def rate(self) -> float | None:
        return self.local.rate

    def held_for(self) -> float:
        return self.local.held_for()

    async def reserve_turn(self) -> tuple[float, int]:
        rate, burst = self.local.rate, self.local.burst
        if rate is None or burst is None:
            return await self.pause_state()
        self._fell_back = False

        async def alone() -> tuple[float, int]:
            self._fell_back = True
            return await self.local.reserve_turn()

        return await self._either(self.shared.reserve_turn(rate, burst), alone)

    def give_back(self) -> None:
        # A turn reserved in Redis is on every worker's schedule: not returned.
        if self._fell_back:
            self.local.give_back()

    async def pause_state(self) -> tuple[float, int]:
        return await self._either(self.shared.pause_state(), self.local.pause_state)

    async def pause(self, seconds: float) -> None:
        await self.local.pause(seconds)
        await self._either(self.shared.pause(seconds), _nothing)

    async def load_token(self) -> str | None:
        return await self._either(self.shared.load_token(), self.local.load_token)

    async def store_token(self, token: str, lifetime: float | None) -> None:
        await self.local.store_token(token, lifetime)
        await self._either(self.shared.store_token(token, lifetime), _nothing)

    async def acquire(self) -> str | None:
        return await self._either(self.shared.acquire(), self.local.acquire)

    async def release(self, value: str) -> None:
        await self.local.release(value)
        await self._either(self.shared.release(value), _nothing)

    async def wait_for_change(self, seen: str | None) -> str | None:
        return await self._either(
            self.shared.wait_for_change(seen, sleep=self._sleep),
            lambda: self.local.wait_for_change(seen),
        )


async def _nothing() -> None:
    """The local side of a decision already taken locally."""
