"""Retries as a transport wrapping another transport, plus the pure maths.

What is retried: connection failures, timeouts, and the statuses in
``RetryPolicy.statuses`` (408, 429, 500, 502, 503, 504). A request marked not
idempotent (``Call.idempotent = False`` on its call record, e.g. creating a
contact) is retried only when the failure proves it never reached the server
(a connect error, a wait for a pooled connection that timed out, a login that
failed before it was sent) or when the server said so with a 429 carrying
``Retry-After``.

BSG answers 429 *without* ``Retry-After`` to an identical POST seen within
the last second ("Too many duplicate request detected"): the first copy got
through. A create or an update (``Call.write``) or any request not safe to
repeat answered that way is never sent again.

Per-call settings come on the request's call record (``_call.Call``):
``max_retries`` overrides the policy's count; ``deadline`` (on the
transport's monotonic clock) is the
call's total budget: no retry starts that could not finish waiting before it,
and a ``Retry-After`` longer than what is left ends the call at once.

The transport records on the same record how many retries it took
(``retries_taken``), when it gives up, whether the request may have been
applied (``may_have_been_applied``), whether a 429 was a duplicate refusal
(``duplicate``) and whether the budget ended it (``out_of_budget``); the
client's edge puts these on the error it raises.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

import anyio
import attrs
import httpx

from bsg_async._call import (
    RETRY_EVENT,
    Call,
    LoginFailedError,
    WaitTooLongError,
    backoff,
    budget_left,
    call_of,
)
from bsg_async._errors import parse_retry_after

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

__all__ = [
    "RetryPolicy",
    "RetryTransport",
    "backoff_delay",
    "causes",
    "is_tls_mismatch",
    "never_reached_server",
]

logger = logging.getLogger("bsg_async")

# Methods that may be repeated without changing the result.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        backoff: Base delay in seconds; attempt n waits about backoff * 2**n.
        max_backoff: Upper bound of one computed delay.
        max_retry_after: Longest server-requested ``Retry-After`` waited
            out; a longer one is not retried (the answer is handed back).
        statuses: HTTP statuses worth another attempt.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})


def backoff_delay(
    policy: RetryPolicy, retry_number: int, retry_after: float | None, jitter: float
) -> float:
    """Seconds to wait before retry number ``retry_number`` (0 for the first).

    A server's ``Retry-After`` wins (capped by ``policy.max_retry_after``);
    otherwise exponential backoff with "equal jitter": half of the delay is
    fixed, the other half scaled by ``jitter`` in [0, 1].
    """
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after)
    base = min(policy.max_backoff, policy.backoff * 2.0**retry_number)
    return base / 2 + base / 2 * jitter


def causes(exc: BaseException, depth: int = 8) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from, nearest first (``depth`` at most)."""
    seen: BaseException | None = exc
    for _ in range(depth):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


# How OpenSSL says that the other side does not speak TLS.
_NOT_TLS = (
    "wrong_version_number",
    "record_layer_failure",
    "record layer failure",
    "packet length too long",
)


def is_tls_mismatch(exc: BaseException) -> bool:
    """Whether a connection failed because the server does not speak TLS (retrying cannot help).

    ``https://`` sent to a plain-http port: the TLS handshake reads an HTTP
    answer and OpenSSL says ``WRONG_VERSION_NUMBER`` (or a record too long).
    """
    return any(marker in str(cause).lower() for cause in causes(exc) for marker in _NOT_TLS)


def never_reached_server(exc: httpx.TransportError) -> bool:
    """Whether a transport error proves the request was never sent."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def is_duplicate_refusal(request: httpx.Request, response: httpx.Response) -> bool:
    """Whether a 429 is BSG's duplicate-request detection refusing a write.

    The API answers 429 without ``Retry-After`` when an identical POST reached
    it within the last second. For a create or an update, or any request not
    safe to repeat, sending it again could apply it twice.
    """
    return (
        response.status_code == 429  # noqa: PLR2004
        and "retry-after" not in response.headers
        and (call_of(request).write or not is_idempotent(request))
    )


def is_idempotent(request: httpx.Request) -> bool:
    """Whether ``request`` may be sent twice (explicit mark, else by method)."""
    marked = call_of(request).idempotent
    if marked is None:
        return request.method in _IDEMPOTENT_METHODS
    return bool(marked)


class RetryTransport(httpx.AsyncBaseTransport):
    """Retry failed requests on the wrapped transport.

    Args:
        transport: The transport to send through.
        policy: When and how long to retry.
        sleep: Awaitable sleep (injected in tests).
        jitter: Returns a number in [0, 1] per retry (injected in tests).
        clock: Monotonic seconds, the clock of ``Call.deadline`` (injected in tests).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self.policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock

    def _fits_budget(self, call: Call, delay: float) -> bool:
        left = budget_left(call, self._clock())
        return left is None or delay < left

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, retrying as the policy allows."""
        call = call_of(request)
        limit = self.policy.max_retries if call.max_retries is None else call.max_retries
        # ``retries`` is this layer's own count, held against the limit; the
        # reported ``retries_taken`` also counts the replays layers below
        # make (a 401 answered by a new login), which do not use up the limit.
        retries = 0
        while True:
            try:
                response = await self._transport.handle_async_request(request)
            except LoginFailedError as exc:
                delay = self._after_login_failure(call, exc, retries, limit)
                reason = f"HTTP {exc.response.status_code} at login"
            except WaitTooLongError:
                raise  # the budget is spent: no retry could fit in it
            except httpx.TransportError as exc:
                delay = self._after_transport_error(request, call, exc, retries, limit)
                reason = type(exc).__name__
            else:
                answer_delay = self._after_answer(request, call, response, retries, limit)
                if answer_delay is None:
                    return response
                delay = answer_delay
                reason = f"HTTP {response.status_code}"
                await response.aclose()
            retries += 1
            call.retries_taken += 1
            call.events.append(RETRY_EVENT + reason)
            logger.info(
                "retrying %s %s after %s: retry %d of %d in %.3fs",
                request.method,
                request.url.path,
                reason,
                retries,
                limit,
                delay,
            )
            await backoff(self._sleep, delay)

    def _after_login_failure(
        self, call: Call, exc: LoginFailedError, retries: int, limit: int
    ) -> float:
        """The delay before trying again, or re-raise ``exc``."""
        # The request itself never went out: safe to repeat whatever it is.
        if retries >= limit or exc.response.status_code not in self.policy.statuses:
            raise exc
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            call.retry_after_refused = self.policy.max_retry_after
            raise exc
        delay = backoff_delay(self.policy, retries, retry_after, self._jitter())
        if not self._fits_budget(call, delay):
            raise exc
        return delay

    def _after_transport_error(
        self,
        request: httpx.Request,
        call: Call,
        exc: httpx.TransportError,
        retries: int,
        limit: int,
    ) -> float:
        """The delay before trying again, or re-raise ``exc``."""
        reached = call.sent is not False and not never_reached_server(exc)
        unsafe = reached and not is_idempotent(request)
        delay = backoff_delay(self.policy, retries, None, self._jitter())
        final = is_tls_mismatch(exc)  # the same handshake fails the same way every time
        if retries >= limit or unsafe or final or not self._fits_budget(call, delay):
            call.may_have_been_applied = unsafe
            raise exc
        return delay

    def _after_answer(
        self,
        request: httpx.Request,
        call: Call,
        response: httpx.Response,
        retries: int,
        limit: int,
    ) -> float | None:
        """The delay before trying again, or None to hand ``response`` back."""
        status = response.status_code
        if status not in self.policy.statuses:
            return None
        if is_duplicate_refusal(request, response):
            # The first copy reached the server: never send another.
            call.duplicate = True
            call.may_have_been_applied = True
            return None
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            # Longer than we wait out: the call ends now, with the server's value.
            call.retry_after_refused = self.policy.max_retry_after
            if not (is_idempotent(request) or status == 429):  # noqa: PLR2004
                call.may_have_been_applied = True
            return None
        # A 429 with Retry-After refused the request unapplied; any other
        # failure of a request not safe to repeat leaves its outcome unknown.
        safe = is_idempotent(request) or (status == 429 and retry_after is not None)  # noqa: PLR2004
        if retries >= limit or not safe:
            call.may_have_been_applied = not safe
            return None
        delay = backoff_delay(self.policy, retries, retry_after, self._jitter())
        if not self._fits_budget(call, delay):
            call.out_of_budget = True
            return None
        return delay

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()
