"""Client-wide pacing as a transport: in-flight cap, token bucket, shared pause.

Every request through one ``RateLimitTransport`` (that is, every task using
one client) shares three things:

* a cap on requests in flight, held until the answer's body has been read, so
  the connection pool below never sees more waiters than it has connections;
* a token bucket of ``rate`` requests per second with a small burst;
* a pause: an answer with ``Retry-After`` (429 or 503) stops every task until
  the server's time is up, so concurrent tasks do not stampede.

A request carrying a total budget (``request.extensions["bsg_deadline"]``,
on this transport's clock) does not wait past it: a pause or a rate-limit
wait that would end after the deadline raises ``WaitTooLongError`` at once.

Authentication sits below this layer, so a request's token is read only
once it holds its slot and its rate-limit token.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import anyio
import httpx

from bsg_async._auth import LoginFailedError
from bsg_async._errors import parse_retry_after
from bsg_async._shared import CoordinationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bsg_async._shared import RedisCoordination

__all__ = ["RateLimitTransport", "TokenBucket", "WaitTooLongError", "budget_left"]

_PAUSING_STATUSES = frozenset({429, 503})

logger = logging.getLogger("bsg_async")


def budget_left(request: httpx.Request, now: float) -> float | None:
    """Seconds left of the call's budget (``bsg_deadline``) at ``now``; None: no budget."""
    deadline: float | None = request.extensions.get("bsg_deadline")
    return None if deadline is None else deadline - now


class WaitTooLongError(httpx.PoolTimeout):
    """Waiting for the pause or the rate limit would outlast the call's budget.

    A ``PoolTimeout``: the request was never sent. ``paused`` tells a server's
    ``Retry-After`` pause from the client's own rate limit.
    """

    def __init__(self, request: httpx.Request, *, wait: float, left: float, paused: bool) -> None:
        what = "the server's Retry-After pause" if paused else "the rate limit"
        super().__init__(
            f"waiting {wait:.3g} s for {what} would outlast the {max(left, 0.0):.3g} s"
            " left of this call's budget",
            request=request,
        )
        self.wait = wait
        self.paused = paused


class TokenBucket:
    """A reserving token bucket: each caller is told exactly how long to wait.

    Tokens may go negative; a negative balance is a queue of reservations,
    so concurrent callers get distinct, evenly spaced send times.

    Args:
        rate: Tokens added per second.
        burst: Most tokens held at once (requests allowed back to back).
    """

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def reserve(self, now: float) -> float:
        """Take one token at time ``now``; return the seconds to wait for it."""
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate

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
    ) -> None:
        self._transport = transport
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
        """Hold back every request for ``seconds`` from now."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _check_budget(self, request: httpx.Request, wait: float, *, paused: bool) -> None:
        left = budget_left(request, self._clock())
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
                self.pause(retry_after)
                if self._shared is not None:
                    await self._coordinated(self._shared.pause(retry_after))

    async def _coordinated(self, call: Awaitable[float | None]) -> float | None:
        """A shared decision, or None to decide locally when Redis is down and allowed."""
        assert self._shared is not None  # noqa: S101 - called only when shared
        try:
            return await call
        except CoordinationError:
            if self._shared.on_error != "local":
                raise
            self._shared.fallbacks += 1
            if self._shared.fallbacks == 1:
                logger.warning("Redis unreachable: pacing this worker alone until it answers")
            return None

    async def _reserve(self, request: httpx.Request) -> None:
        """Wait for this request's turn under the rate limit (shared or local)."""
        if self._shared is not None:
            bucket = self._bucket
            if bucket is not None:
                shared_wait = await self._coordinated(
                    self._shared.reserve(bucket.rate, bucket.burst)
                )
            else:
                shared_wait = await self._coordinated(self._shared.paused_for())
            if shared_wait is not None:
                while shared_wait:
                    self._check_budget(request, shared_wait, paused=False)
                    await self._sleep(shared_wait)
                    # Another worker may have been told to pause while this
                    # one waited for its turn: that pause holds for it too.
                    shared_wait = await self._coordinated(self._shared.paused_for()) or 0.0
                return
        if self._bucket is not None:
            wait = self._bucket.reserve(self._clock())
            if wait > 0:
                try:
                    self._check_budget(request, wait, paused=False)
                except WaitTooLongError:
                    self._bucket.give_back()
                    raise
                await self._sleep(wait)

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
