"""The record one call carries through the transport layers, and what crosses them.

The client's edge attaches a :class:`Call` to every request it sends (under
one extension key, :data:`KEY`). Going down, it holds the call's settings:
the total budget, the retry count, the exchange deadline and whether the
request is safe to send twice. Coming up, the layers write on it what
happened: retries taken, whether the request reached the wire, whether it
may have been applied, a duplicate refusal, a refused ``Retry-After``, an
exhausted budget. The edge reads those onto the result or the error.

The exceptions that one layer raises and another catches live here too, so
the layers import this module and not one another.
"""

from __future__ import annotations

import contextvars
import functools
from typing import TYPE_CHECKING

import attrs
import httpx

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "KEY",
    "RETRY_EVENT",
    "BodyError",
    "Call",
    "Options",
    "LoginFailedError",
    "ResponseTooLargeError",
    "WaitTooLongError",
    "backoff",
    "budget_left",
    "call_of",
    "exchange_deadline",
]

KEY = "bsg_call"

#: How a call waits out a retry's backoff: set by a bulk call for each of its
#: items (the item gives its place to the next while it sleeps); unset, the
#: retry layer just sleeps.
BACKOFF: contextvars.ContextVar[
    Callable[[Callable[[float], Awaitable[object]], float], Awaitable[None]]
] = contextvars.ContextVar("bsg_backoff")


async def backoff(sleep: Callable[[float], Awaitable[object]], delay: float) -> None:
    """Sleep ``delay`` seconds before a retry, the way the running call asks."""
    idle = BACKOFF.get(None)
    if idle is None:
        await sleep(delay)
    else:
        await idle(sleep, delay)


#: The start of a call's event for each retry: "retry after HTTP 503".
RETRY_EVENT = "retry after "


@attrs.define(slots=True, kw_only=True)
class Call:
    """Settings of one call (down the layers) and what happened to it (back up).

    A request without a record (a transport used on its own) gets a blank
    one; each layer then falls back to its own defaults.
    """

    #: Monotonic time (the transports' clock) when the whole call must end.
    deadline: float | None = None
    #: Seconds allowed for one exchange, sending through reading; None: no bound.
    exchange_timeout: float | None = None
    #: Whether ``exchange_timeout`` was set by the client (else the reader's own).
    exchange_timeout_set: bool = False
    #: Retries allowed for this call; None: the retry policy's count.
    max_retries: int | None = None
    #: True/False marks the request safe/unsafe to repeat; None: by method.
    idempotent: bool | None = None
    #: A create or an update: a rate-limit refusal may hide an applied write.
    write: bool = False

    retries_taken: int = 0
    #: None: no auth layer said; False: refused before the wire; True: sent.
    sent: bool | None = None
    may_have_been_applied: bool = False
    #: BSG's 429 "duplicate request": the same write arrived twice.
    duplicate: bool = False
    #: The ``max_retry_after`` ceiling a refused ``Retry-After`` exceeded.
    retry_after_refused: float | None = None
    out_of_budget: bool = False

    #: What the call is, for traces and metrics (``contacts.get``); "" when unknown.
    operation: str = ""
    #: A login or refresh sent on a call's behalf (hooks do not see these).
    login: bool = False
    #: HTTP exchanges sent for this call (retries and 401 replays included).
    attempts: int = 0
    #: Seconds waited for a turn under the rate limit, and for a shared pause.
    waited_turn: float = 0.0
    waited_pause: float = 0.0
    #: What happened on the way, in order ("login", "refresh", "replay after 401").
    events: list[str] = attrs.Factory(list)

    def for_login(self) -> Call:
        """A record for a login sent on this call's behalf: its exchange deadline only."""
        return Call(
            exchange_timeout=self.exchange_timeout,
            exchange_timeout_set=self.exchange_timeout_set,
            login=True,
        )


def exchange_deadline(timeout: httpx.Timeout) -> float | None:
    """Seconds allowed for one whole exchange: the longest phase limit set."""
    limits = [value for value in timeout.as_dict().values() if value is not None]
    return max(limits) if limits else None


@attrs.frozen(kw_only=True)
class Options:
    """Per-call settings of one view of a client; ``start`` makes each call's record."""

    timeout: httpx.Timeout
    max_retries: int
    total_timeout: float | None

    @functools.cached_property
    def _httpx_timeout(self) -> dict[str, float | None]:
        return self.timeout.as_dict()

    @functools.cached_property
    def _exchange_timeout(self) -> float | None:
        return exchange_deadline(self.timeout)

    def start(
        self, request: httpx.Request, now: float, *, idempotent: bool | None, write: bool
    ) -> Call:
        """Attach the record of a call starting at ``now`` (monotonic) to ``request``."""
        call = Call(
            deadline=None if self.total_timeout is None else now + self.total_timeout,
            exchange_timeout=self._exchange_timeout,
            exchange_timeout_set=True,
            max_retries=self.max_retries,
            idempotent=idempotent,
            write=write,
        )
        request.extensions["timeout"] = self._httpx_timeout
        request.extensions[KEY] = call
        return call


def call_of(request: httpx.Request) -> Call:
    """The request's call record, attached blank if it had none."""
    call = request.extensions.get(KEY)
    if call is None:
        call = request.extensions[KEY] = Call()
    return call


def budget_left(call: Call, now: float) -> float | None:
    """Seconds left of the call's budget at ``now``; None: no budget."""
    return None if call.deadline is None else call.deadline - now


class LoginFailedError(Exception):
    """The login (or re-login) answered without a token.

    Raised out of the auth flow; the client's edge turns the carried answer
    into the matching public error (AuthenticationError for a rejected key).
    """

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"login failed with HTTP {response.status_code}")
        self.response = response


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


class BodyError(Exception):
    """An answer's body could not be read as sent (the client maps it to ``DecodeError``)."""


class ResponseTooLargeError(BodyError):
    """An answer's body exceeded the size the client accepts."""

    def __init__(self, request: httpx.Request, limit: int, *, decoded: bool = False) -> None:
        what = "answer larger than" if not decoded else "answer decompressing to more than"
        super().__init__(f"{request.method} {request.url.path}: {what} {limit} bytes, abandoned")
        self.request = request
        self.limit = limit
