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

The bucket and the pause are a ``Coordination`` (``_coordination``): this
client's own, or, with ``shared``, every worker's through Redis. The layer
has one path either way.

Authentication sits below this layer, so a request's token is read only
once it holds its slot and its rate-limit token.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
import httpx

from bsg_async._call import LoginFailedError, WaitTooLongError, budget_left, call_of
from bsg_async._coordination import LocalCoordination
from bsg_async._errors import parse_retry_after
from bsg_async._redis import RedisShared

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bsg_async._coordination import Coordination
    from bsg_async._redis import RedisCoordination

__all__ = ["RateLimitTransport"]

_PAUSING_STATUSES = frozenset({429, 503})

logger = logging.getLogger("bsg_async")


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
        local = LocalCoordination(rate=rate, burst=burst, clock=clock, sleep=sleep)
        self._coordination: Coordination = (
            local if shared is None else RedisShared(shared, local, clock=clock, sleep=sleep)
        )
        self._slots = anyio.Semaphore(max_concurrency, fast_acquire=True)
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._sleep = sleep

    @property
    def in_flight(self) -> int:
        """Requests currently holding a slot."""
        return self.max_concurrency - self._slots.value

    def _check_budget(self, request: httpx.Request, wait: float, *, paused: bool) -> None:
        left = budget_left(call_of(request), self._clock())
        if left is not None and wait >= left:
            raise WaitTooLongError(request, wait=wait, left=left, paused=paused)

    async def _wait_for_pause(self, request: httpx.Request) -> None:
        while (remaining := self._coordination.held_for()) > 0:
            self._check_budget(request, remaining, paused=True)
            await self._sleep(remaining)
            call_of(request).waited_pause += remaining

    async def _note_pause(self, response: httpx.Response) -> None:
        if response.status_code in _PAUSING_STATUSES:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after:
                await self._coordination.pause(min(retry_after, self.max_pause))

    async def _reserve(self, request: httpx.Request) -> None:
        """Wait for this request's turn under the rate limit and any pause."""
        coordination = self._coordination
        while True:
            wait, generation = await coordination.reserve_turn()
            if wait <= 0:
                return
            paused = coordination.rate is None or coordination.held_for() > 0
            try:
                self._check_budget(request, wait, paused=paused)
            except WaitTooLongError:
                coordination.give_back()
                raise
            await self._sleep(wait)
            call_of(request).waited_turn += wait
            left, now = await coordination.pause_state()
            if now == generation and left <= 0:
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
