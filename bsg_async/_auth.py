"""JWT authentication as a transport layer, below pacing.

The layer stamps ``Authorization: Bearer <JWT>`` at the last moment: after
the request holds its pacing slot and its rate-limit token, just before it
goes on the wire, so a token cannot go stale while the request waits in line.
It logs in lazily with ``POST /auth/login``, once however many tasks start
together (a lock makes the login single-flight), refreshes the token shortly
before the ``exp`` in its payload with ``POST /auth/refresh``, and on a 401
logs in again once and replays the request. Logins, refreshes and the replay
all happen inside the slot of the request that needed them. A key the server
rejects is remembered, so later calls fail at once instead of hammering the
login.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
from typing import TYPE_CHECKING

import anyio
import httpx

from bsg_async._call import KEY, LoginFailedError, call_of
from bsg_async._coordination import LocalCoordination
from bsg_async._errors import CoordinationError
from bsg_async._redis import RedisShared

if TYPE_CHECKING:
    from collections.abc import Callable

    from bsg_async._coordination import Coordination
    from bsg_async._redis import RedisCoordination

__all__ = ["AuthTransport", "Secret", "jwt_expiry", "redact"]

# Refresh this long before the token's exp, or a tenth of its lifetime when
# that is shorter (test tokens may live only a few seconds) ...
_REFRESH_MARGIN = 60.0
# ... but at least twice the slowest recent round trip, so that a token
# stamped just before the refresh is still valid when the server checks it;
# and never more than half the lifetime, so each token gets used.
_ROUND_TRIPS = 2.0
# Each round trip observed lets the remembered slowest one shrink by this factor.
_SLOWEST_DECAY = 0.98
_UNAUTHORIZED = 401
_OK = 200
# Login answers that mean the key itself is bad, so retrying is pointless.
_REJECTED = frozenset({401, 403, 422})


def redact(headers: httpx.Headers) -> None:
    """Replace a bearer token in the headers of a request that was sent."""
    if "authorization" in headers:
        headers["Authorization"] = "Bearer <redacted>"


def _forget_credentials(request: httpx.Request) -> None:
    """Erase the key (a login's body) and the token from a request that was sent.

    Errors and responses keep their request, and tracebacks their frames: a
    spent login request must not hold the key for whoever reads them.
    """
    redact(request.headers)
    request.stream = httpx.ByteStream(b"")
    request._content = b""  # noqa: SLF001 - httpx keeps the sent body here


class Secret:
    """A string that never shows itself in a repr, str or traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret text (only for putting it on the wire)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def jwt_expiry(token: str) -> float | None:
    """Read ``exp`` (seconds since the epoch) from a JWT payload, unverified.

    Returns None when the token is not a JWT or carries no numeric ``exp``;
    the flow then relies on 401 answers alone.
    """
    parts = token.split(".")
    if len(parts) != 3:  # noqa: PLR2004 - header.payload.signature
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    return float(exp)


class AuthTransport(httpx.AsyncBaseTransport):
    """Log in with an API key and send ``Authorization: Bearer <JWT>``.

    Sets ``Call.sent`` on the request's call record: False until the request
    itself goes on the wire (a failed login proves it was never sent), and
    adds each 401 replay to ``Call.retries_taken``.

    Args:
        transport: The transport to send through (logins included).
        api_key: The account's API key.
        login_url: Absolute URL of ``POST /auth/login``.
        refresh_url: Absolute URL of ``POST /auth/refresh``.
        clock: Wall-clock seconds since the epoch (compared with ``exp``).
        shared: Where the token is shared with other workers (None: kept here).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        api_key: Secret,
        *,
        login_url: str,
        refresh_url: str,
        clock: Callable[[], float] = time.time,
        shared: RedisCoordination | None = None,
    ) -> None:
        self._transport = transport
        local = LocalCoordination(clock=clock)
        # Where the token and its renewal lock live: this client, or Redis.
        self._shared: Coordination = (
            local if shared is None else RedisShared(shared, local, clock=clock, sleep=anyio.sleep)
        )
        self._api_key = api_key
        self._login_url = login_url
        self._refresh_url = refresh_url
        self._clock = clock
        self._token: Secret | None = None
        self._expires_at: float | None = None
        self._lifetime = 0.0
        self._slowest = 0.0
        self._rejected: httpx.Response | None = None
        # The last token the API refused (401): never taken up again.
        self._refused: Secret | None = None
        self._lock = anyio.Lock()
        self.logins = 0
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"AuthTransport(logged_in={self._token is not None})"

    def _needs_token(self) -> bool:
        if self._token is None:
            return True
        return self._expires_at is not None and self._clock() >= self.refresh_at()

    def refresh_at(self) -> float:
        """When the current token is due for a refresh (inf: it has no exp)."""
        if self._expires_at is None:
            return float("inf")
        margin = min(_REFRESH_MARGIN, max(self._lifetime / 10, _ROUND_TRIPS * self._slowest))
        return self._expires_at - min(margin, self._lifetime / 2)

    def _expired(self) -> bool:
        return self._expires_at is not None and self._clock() >= self._expires_at

    def _store(self, token: str) -> Secret:
        secret = Secret(token)
        self._token = secret
        self._expires_at = jwt_expiry(token)
        if self._expires_at is not None:
            self._lifetime = max(0.0, self._expires_at - self._clock())
        return secret

    @staticmethod
    def _read_token(response: httpx.Response) -> str | None:
        if response.status_code != _OK:
            return None
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError):
            return None
        bearer = body.get("bearer") if isinstance(body, dict) else None
        return bearer if isinstance(bearer, str) and bearer else None

    async def _post(
        self, url: str, for_request: httpx.Request, *, token: Secret | None = None
    ) -> httpx.Response:
        """Send a login or refresh with the timeouts of the request it serves."""
        extensions: dict[str, object] = {}
        if "timeout" in for_request.extensions:
            extensions["timeout"] = for_request.extensions["timeout"]
        if KEY in for_request.extensions:
            extensions[KEY] = call_of(for_request).for_login()
        if token is None:
            request = httpx.Request(
                "POST", url, json={"api_key": self._api_key.reveal()}, extensions=extensions
            )
        else:
            request = httpx.Request(
                "POST",
                url,
                headers={"Authorization": f"Bearer {token.reveal()}"},
                extensions=extensions,
            )
        request.headers["User-Agent"] = for_request.headers.get("User-Agent", "")
        request.headers["Accept"] = "application/json"
        try:
            response = await self._transport.handle_async_request(request)
            response.request = request
            await response.aread()
        finally:
            _forget_credentials(request)
        return response

    async def token_for(self, request: httpx.Request, stale: Secret | None = None) -> Secret:
        """A usable token, logging in or refreshing first when needed.

        ``stale`` is the token a request was refused with: when another task
        (or, with ``shared``, another worker) has already replaced it, that
        replacement is used without a login.

        Raises:
            LoginFailedError: The login answered without a token.
        """
        token = self._token
        if stale is None and token is not None and not self._needs_token():
            return token  # the common case takes no lock
        async with self._lock:
            if self._rejected is not None:
                raise LoginFailedError(self._rejected)
            usable = self._usable(stale)
            if usable is not None:
                return usable
            return await self._renew_for_all(request, stale)

    def _usable(self, stale: Secret | None) -> Secret | None:
        """The stored token, when it can serve a request refused with ``stale``."""
        token = self._token
        if token is None:
            return None
        if stale is not None:
            return token if token != stale else None
        return None if self._needs_token() else token

    async def _renew(self, request: httpx.Request, stale: Secret | None) -> Secret:
        """Refresh the token, or log in; store and return the new one."""
        token = self._token
        # A token inside its refresh margin is refreshed; one that was
        # refused or is past its exp needs a new login.
        if token is not None and stale is None and not self._expired():
            self.refreshes += 1
            call_of(request).events.append("refresh")
            response = await self._post(self._refresh_url, request, token=token)
            fresh = self._read_token(response)
            if fresh is not None:
                return self._store(fresh)
        self.logins += 1
        call_of(request).events.append("login")
        response = await self._post(self._login_url, request)
        fresh = self._read_token(response)
        if fresh is None:
            self._token = None
            if response.status_code in _REJECTED:
                self._rejected = response
            raise LoginFailedError(response)
        return self._store(fresh)

    def _adopt(self, shared: str | None, stale: Secret | None) -> Secret | None:
        """Take a token another worker stored, when it is fresher than ours."""
        if shared is None:
            return None
        mine = None if self._token is None else self._token.reveal()
        refused = {None if token is None else token.reveal() for token in (stale, self._refused)}
        if shared == mine or shared in refused:
            return None
        self._store(shared)
        return self._usable(stale)

    async def _adopt_shared(self, stale: Secret | None) -> Secret | None:
        """Look in the shared store for a token fresher than ours, and take it."""
        return self._adopt(await self._shared.load_token(), stale)

    async def _renew_for_all(self, request: httpx.Request, stale: Secret | None) -> Secret:
        """Take the renewal lock and renew, or wait for the holder's token.

        With this client's own coordination the lock is always free (the
        layer's own lock already lets one task renew at a time) and the
        store holds this client's token; through Redis, one worker renews
        for all. While Redis is down and ``on_error="local"``, each step is
        taken locally and this client renews alone.
        """
        shared = self._shared
        adopted = await self._adopt_shared(stale)
        if adopted is not None:
            return adopted
        while True:
            lock = await shared.acquire()
            if lock is not None:
                break
            # Another worker is renewing: wait for its token, or for the lock.
            changed = await shared.wait_for_change(
                None if self._token is None else self._token.reveal()
            )
            adopted = self._adopt(changed, stale)
            if adopted is not None:
                return adopted
        try:
            # It may have been renewed between our look and the lock.
            adopted = await self._adopt_shared(stale)
            if adopted is not None:
                return adopted
            fresh = await self._renew(request, stale)
            lifetime = None if self._expires_at is None else self._expires_at - self._clock()
            await shared.store_token(fresh.reveal(), lifetime)
            return fresh
        finally:
            with contextlib.suppress(CoordinationError):  # the lock expires by itself
                await shared.release(lock)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Authenticate ``request`` and send it; on a 401 log in again once and replay it."""
        stale: Secret | None = None
        call = call_of(request)
        while True:
            call.sent = False
            token = await self.token_for(request, stale)
            request.headers["Authorization"] = f"Bearer {token.reveal()}"
            call.sent = True
            sent_at = self._clock()
            response = await self._transport.handle_async_request(request)
            self._slowest = max(self._clock() - sent_at, self._slowest * _SLOWEST_DECAY)
            if response.status_code != _UNAUTHORIZED or stale is not None:
                return response
            # Refused as unauthenticated: the request was not applied, so
            # replaying it is safe whatever it does.
            await response.aclose()
            stale = self._refused = token
            call.retries_taken += 1
            call.events.append("replay after 401")

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()
