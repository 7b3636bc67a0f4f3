"""What the pacing and auth layers decide together: one protocol, two implementations.

A client's pacing layer reserves a turn for every request and pauses when
the server asks it to; its auth layer keeps the token and renews it under a
lock. ``Coordination`` is that contract. ``LocalCoordination`` keeps it all
in this client (a token bucket, a pause, a token slot, a lock);
``_redis.RedisShared`` keeps it in Redis for every worker of an account, and
falls back to a ``LocalCoordination`` while Redis is down if allowed. The
layers call the protocol and never ask which one they hold.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import TYPE_CHECKING, Protocol

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Coordination", "LocalCoordination", "TokenBucket", "default_burst"]

# Seconds between two looks at a token another holder of the lock renews.
POLL = 0.025


class Coordination(Protocol):
    """Turns, pauses and the token of one account, as the layers see them."""

    @property
    def rate(self) -> float | None:
        """Requests per second reserved by ``reserve_turn`` (None: no limit)."""

    def held_for(self) -> float:
        """Seconds left of the pause this client knows of (no round trip)."""

    async def reserve_turn(self) -> tuple[float, int]:
        """Reserve a send: (seconds to wait for it, pause generation).

        Without a rate, the wait is the pause's. A turn whose generation has
        changed once the wait is over was voided by a pause: reserve again.
        """

    def give_back(self) -> None:
        """Return the last turn reserved, which will not be used (where possible)."""

    async def pause_state(self) -> tuple[float, int]:
        """(Seconds left of the pause, pause generation)."""

    async def pause(self, seconds: float) -> None:
        """Hold back every send for ``seconds`` from now; turns resume at the rate after."""

    async def load_token(self) -> str | None:
        """The token stored last, unless it has expired."""

    async def store_token(self, token: str, lifetime: float | None) -> None:
        """Store a fresh token that lives ``lifetime`` more seconds (None: no expiry)."""

    async def acquire(self) -> str | None:
        """Try once to take the renewal lock; its value when taken, else None."""

    async def release(self, value: str) -> None:
        """Give the renewal lock back (only if ``value`` still holds it)."""

    async def wait_for_change(self, seen: str | None) -> str | None:
        """Wait until the token differs from ``seen`` (returned) or the lock is free (None)."""


class TokenBucket:
    """A reserving token bucket: each caller is told exactly how long to wait.

    Tokens may go negative; a negative balance is a queue of reservations,
    so N concurrent callers get N distinct, evenly spaced send times.

    Args:
        rate: Tokens added per second.
        burst: Most tokens held at once (requests allowed back to back).
    """

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.generation = 0
        self._tokens = burst
        self._last: float | None = None

    def reserve(self, now: float) -> float:
        """Take one token at time ``now``; return the seconds to wait for it."""
        last = self._last
        if last is None or now > last:
            if last is not None:
                self._tokens = min(self.burst, self._tokens + (now - last) * self.rate)
            self._last = last = now
        # During a pause ``last`` is its end, later than now: the wait runs
        # from there.
        self._tokens -= 1
        start = last - now
        if self._tokens >= 0:
            return start
        return start - self._tokens / self.rate

    def pause_until(self, end: float) -> None:
        """Send nothing before ``end``: void the turns reserved so far and refill at ``end``."""
        if self._last is not None and end <= self._last and self._tokens >= 0:
            return  # already paused at least that long, with no turn waiting
        self.generation += 1
        self._tokens = self.burst
        self._last = max(end, self._last or end)

    def give_back(self) -> None:
        """Return the token of a reservation that will not be used."""
        self._tokens = min(self.burst, self._tokens + 1)


def default_burst(rate: float) -> float:
    """Burst allowed for a rate: a tenth of a second's worth, at least one."""
    return max(1.0, math.floor(rate / 10))


class LocalCoordination:
    """Coordination within one client: its bucket, its pause, its token and lock.

    Args:
        rate: Requests per second (None: no limit).
        burst: Requests allowed back to back (default: ``default_burst``).
        clock: Monotonic seconds (injected in tests).
        sleep: Awaitable sleep (injected in tests).
    """

    def __init__(
        self,
        *,
        rate: float | None = None,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    ) -> None:
        self._bucket = None if rate is None else TokenBucket(rate, burst or default_burst(rate))
        self._clock = clock
        self._sleep = sleep
        self._paused_until = 0.0
        self._pauses = 0  # the generation when there is no bucket
        self._token: str | None = None
        self._token_until = math.inf
        self._lock: str | None = None

    @property
    def rate(self) -> float | None:
        return None if self._bucket is None else self._bucket.rate

    @property
    def burst(self) -> float | None:
        """Requests allowed back to back (None: no limit)."""
        return None if self._bucket is None else self._bucket.burst

    def _generation(self) -> int:
        return self._pauses if self._bucket is None else self._bucket.generation

    def held_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    async def reserve_turn(self) -> tuple[float, int]:
        if self._bucket is None:
            return await self.pause_state()
        generation = self._bucket.generation
        return self._bucket.reserve(self._clock()), generation

    def give_back(self) -> None:
        if self._bucket is not None:
            self._bucket.give_back()

    async def pause_state(self) -> tuple[float, int]:
        return self.held_for(), self._generation()

    async def pause(self, seconds: float) -> None:
        end = self._clock() + seconds
        if end > self._paused_until:
            self._paused_until = end
            self._pauses += 1
        if self._bucket is not None:
            self._bucket.pause_until(self._paused_until)

    async def load_token(self) -> str | None:
        if self._token is not None and self._clock() >= self._token_until:
            self._token = None
        return self._token

    async def store_token(self, token: str, lifetime: float | None) -> None:
        if lifetime is not None and lifetime <= 0:
            return
        self._token = token
        self._token_until = math.inf if lifetime is None else self._clock() + lifetime

    async def acquire(self) -> str | None:
        if self._lock is not None:
            return None
        self._lock = secrets.token_hex(8)
        return self._lock

    async def release(self, value: str) -> None:
        if self._lock == value:
            self._lock = None

    async def wait_for_change(self, seen: str | None) -> str | None:
        while True:
            token = await self.load_token()
            if token is not None and token != seen:
                return token
            if self._lock is None:
                return None
            await self._sleep(POLL)
