"""Client-wide pacing as a transport: in-flight cap, token bucket, shared pause.

Every request through one ``RateLimitTransport`` (that is, every task using
one client) shares three things:

* a cap on requests in flight, held until the answer's body has been read, so
  the connection pool below never sees more waiters than it has connections;
* a token bucket of ``rate`` requests per second with a small burst;
* a pause: an answer with ``Retry-After`` (429 or 503) stops every task until
  the server's time is up, so concurrent tasks do not stampede.

A request carrying a total budget (``Call.deadline`` on its call record,
on this transport's clock) does not wait past it: a pause or a rate-limit
wait that would end after the deadline raises ``WaitTooLongError`` at once.

Authentication sits below this layer, so a request's token is read only
once it holds its slot and its rate-limit token.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, TypeVar

import anyio
import httpx

from bsg_async._call import LoginFailedError, WaitTooLongError, budget_left, call_of
from bsg_async._errors import parse_retry_after
from bsg_async._shared import CoordinationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bsg_async._shared import RedisCoordination

__all__ = ["RateLimitTransport", "TokenBucket"]

R = TypeVar("R")

_PAUSING_STATUSES = frozenset({429, 503})

logger = logging.getLogger("bsg_async")


class TokenBucket:
    """A reserving token bucket: each caller is told exactly how long to wait.

    Tokens may go negative; a negative balance is a queue of reservations,
    so concurrent callers get distinct, evenly spaced send times.

    A pause (``pause_until``) moves the schedule: the turns reserved before
    it are void (``generation`` changes; their holders reserve again), and
    the bucket starts afresh when the pause ends, so the second after a pause
    holds at most ``rate`` plus the burst, like any other.

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


class RateLimitTransport(httpx.AsyncBaseTransport):
    """Pace requests sent through the wrapped transport.

    Args:
        transport: The transport to send through.
        rate: Requests per second for everything using this transport
            (None: unlimited).
        max_concurrency: Most requests in flight at once.
        burst: Requests allowed back to back (default: ``default_burst``).
        clock: Monotonic seconds (injected in tests).
        sleep: Awaitable sleep (injected in tests).
        shared: Where the rate limit and the pause are shared with other
            workers (None: this transport alone).
        max_pause: Longest pause a ``Retry-After`` may impose (seconds).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        rate: float | None = None,
        max_concurrency: int = 16,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
        shared: RedisCoordination | None = None,
        max_pause: float = 120.0,
    ) -> None:
        self._transport = transport
        self.max_pause = max_pause
        self._shared = shared
        self._bucket = None if rate is None else TokenBucket(rate, burst or default_burst(rate))
        self._slots = anyio.Semaphore(max_concurrency)
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._sleep = sleep
        self._paused_until = 0.0

    @property
    def in_flight(self) -> int:
        """Requests currently holding a slot."""
        return self.max_concurrency - self._slots.value

    def pause(self, seconds: float) -> None:
        """Hold back every request for ``seconds`` from now; turns resume at the rate after."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        if self._bucket is not None:
            self._bucket.pause_until(self._paused_until)

    def _check_budget(self, request: httpx.Request, wait: float, *, paused: bool) -> None:
        left = budget_left(call_of(request), self._clock())
        if left is not None and wait >= left:
            raise WaitTooLongError(request, wait=wait, left=left, paused=paused)

    async def _wait_for_pause(self, request: httpx.Request) -> None:
        while (remaining := self._paused_until - self._clock()) > 0:
            self._check_budget(request, remaining, paused=True)
            await self._sleep(remaining)

    async def _note_pause(self, response: httpx.Response) -> None:
        if response.status_code in _PAUSING_STATUSES:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after:
                seconds = min(retry_after, self.max_pause)
                self.pause(seconds)
                if self._shared is not None:
                    await self._coordinated(self._shared.pause(seconds))

    async def _coordinated(self, call: Awaitable[R]) -> R | None:
        """A shared decision, or None to decide locally when Redis is down and allowed."""
        assert self._shared is not None  # noqa: S101 - called only when shared
        try:
            return await call
        except CoordinationError:
            if self._shared.on_error != "local":
                raise
            self._shared.fallbacks += 1
            return None

    async def _reserve_shared(self, request: httpx.Request) -> bool:
        """Wait for this request's shared turn; False when Redis is down (pace locally)."""
        shared = self._shared
        assert shared is not None  # noqa: S101 - called only when shared
        bucket = self._bucket
        while True:
            if bucket is not None:
                turn = await self._coordinated(shared.reserve_turn(bucket.rate, bucket.burst))
            else:
                turn = await self._coordinated(shared.pause_state())
            if turn is None:
                return False
            wait, generation = turn
            if not wait:
                return True
            self._check_budget(request, wait, paused=bucket is None)
            await self._sleep(wait)
            # A pause some worker was asked for while this one waited: the
            # turn is void, and a new one is taken after the pause.
            now = await self._coordinated(shared.pause_state())
            if now is None or (now[1] == generation and not now[0]):
                return True

    async def _reserve(self, request: httpx.Request) -> None:
        """Wait for this request's turn under the rate limit (shared or local)."""
        if self._shared is not None and await self._reserve_shared(request):
            return
        bucket = self._bucket
        if bucket is None:
            return
        while True:
            generation = bucket.generation
            wait = bucket.reserve(self._clock())
            if wait <= 0:
                return
            try:
                self._check_budget(request, wait, paused=self._paused_until > self._clock())
            except WaitTooLongError:
                bucket.give_back()
                raise
            await self._sleep(wait)
            if bucket.generation == generation:
                return
            # A pause began while this request waited for its turn: the turn
            # is void (sending now would add to the burst when the pause
            # ends); take a new one after the pause.

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Wait for a slot, a token and the end of any pause; then send."""
        await self._wait_for_pause(request)
        async with self._slots:
            await self._reserve(request)
            await self._wait_for_pause(request)
            try:
                response = await self._transport.handle_async_request(request)
            except LoginFailedError as exc:
                await self._note_pause(exc.response)
                raise
            try:
                # The body is read while the slot is held: a request counts as
                # in flight until its answer is complete, and the connection is
                # back in the pool before the next waiter starts.
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        await self._note_pause(response)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()
