"""Retries as a transport wrapping another transport, plus the pure maths.

What is retried: connection failures, timeouts, and the statuses in
``RetryPolicy.statuses`` (408, 429, 500, 502, 503, 504). A request marked not
idempotent (``request.extensions["bsg_idempotent"] = False``, e.g. creating a
contact) is retried only when the failure proves it never reached the server:
a connect error or a wait for a pooled connection that timed out.

The transport records on ``request.extensions`` how many retries it took
(``bsg_retries_taken``) and, when it gives up, whether the request may have
been applied (``bsg_may_have_been_applied``); the client's edge puts both on
the error it raises.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

import anyio
import attrs
import httpx

from bsg_async._errors import parse_retry_after

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["RetryPolicy", "RetryTransport", "backoff_delay", "never_reached_server"]

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
        max_retry_after: Upper bound of a server-requested ``Retry-After``.
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


def never_reached_server(exc: httpx.TransportError) -> bool:
    """Whether a transport error proves the request was never sent."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def is_idempotent(request: httpx.Request) -> bool:
    """Whether ``request`` may be sent twice (explicit mark, else by method)."""
    marked = request.extensions.get("bsg_idempotent")
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
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._transport = transport
        self.policy = policy
        self._sleep = sleep
        self._jitter = jitter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, retrying as the policy allows."""
        idempotent = is_idempotent(request)
        retries = 0
        while True:
            request.extensions["bsg_retries_taken"] = retries
            try:
                response = await self._transport.handle_async_request(request)
            except httpx.TransportError as exc:
                reached = not never_reached_server(exc)
                if retries >= self.policy.max_retries or (reached and not idempotent):
                    request.extensions["bsg_may_have_been_applied"] = reached and not idempotent
                    raise
                delay = backoff_delay(self.policy, retries, None, self._jitter())
                reason = type(exc).__name__
            else:
                status = response.status_code
                if status not in self.policy.statuses:
                    return response
                if retries >= self.policy.max_retries or not idempotent:
                    # A 429 without Retry-After is BSG's duplicate detection:
                    # the first copy of this request was accepted.
                    request.extensions["bsg_may_have_been_applied"] = not idempotent
                    return response
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                delay = backoff_delay(self.policy, retries, retry_after, self._jitter())
                reason = f"HTTP {status}"
                await response.aclose()
            retries += 1
            logger.info(
                "retrying %s %s after %s: retry %d of %d in %.3fs",
                request.method,
                request.url.path,
                reason,
                retries,
                self.policy.max_retries,
                delay,
            )
            await self._sleep(delay)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()
