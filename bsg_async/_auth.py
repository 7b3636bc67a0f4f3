"""JWT authentication as an ``httpx.Auth`` flow.

The flow logs in lazily with ``POST /auth/login``, once however many tasks
start together (a lock makes the login single-flight), refreshes the token
shortly before the ``exp`` in its payload with ``POST /auth/refresh``, and on
a 401 logs in again once and replays the request. A key the server rejects is
remembered, so later calls fail at once instead of hammering the login.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING

import anyio
import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

__all__ = ["JWTAuth", "LoginFailedError", "Secret", "jwt_expiry"]

# Refresh this long before the token's exp, or a tenth of its lifetime when
# that is shorter (test tokens may live only a few seconds).
_REFRESH_MARGIN = 60.0
_UNAUTHORIZED = 401
_OK = 200
# Login answers that mean the key itself is bad, so retrying is pointless.
_REJECTED = frozenset({401, 403, 422})


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


class LoginFailedError(Exception):
    """The login (or re-login) answered without a token.

    Raised out of the auth flow; the client's edge turns the carried answer
    into the matching public error (AuthenticationError for a rejected key).
    """

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"login failed with HTTP {response.status_code}")
        self.response = response


class JWTAuth(httpx.Auth):
    """Log in with an API key and send ``Authorization: Bearer <JWT>``.

    Args:
        api_key: The account's API key.
        login_url: Absolute URL of ``POST /auth/login``.
        refresh_url: Absolute URL of ``POST /auth/refresh``.
        clock: Wall-clock seconds since the epoch (compared with ``exp``).
    """

    def __init__(
        self,
        api_key: Secret,
        *,
        login_url: str,
        refresh_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api_key = api_key
        self._login_url = login_url
        self._refresh_url = refresh_url
        self._clock = clock
        self._token: Secret | None = None
        self._expires_at: float | None = None
        self._refresh_at: float | None = None
        self._rejected: httpx.Response | None = None
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"JWTAuth(logged_in={self._token is not None})"

    def _needs_token(self) -> bool:
        if self._token is None:
            return True
        return self._refresh_at is not None and self._clock() >= self._refresh_at

    def _store(self, token: str) -> None:
        self._token = Secret(token)
        self._expires_at = jwt_expiry(token)
        if self._expires_at is None:
            self._refresh_at = None
        else:
            now = self._clock()
            margin = min(_REFRESH_MARGIN, max(0.0, self._expires_at - now) / 10)
            self._refresh_at = self._expires_at - margin

    def _login_request(self) -> httpx.Request:
        request = httpx.Request("POST", self._login_url, json={"api_key": self._api_key.reveal()})
        request.extensions["bsg_idempotent"] = True
        return request

    def _refresh_request(self, token: Secret) -> httpx.Request:
        request = httpx.Request(
            "POST", self._refresh_url, headers={"Authorization": f"Bearer {token.reveal()}"}
        )
        request.extensions["bsg_idempotent"] = True
        return request

    @staticmethod
    def _read_token(response: httpx.Response) -> str | None:
        if response.status_code != _OK:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        bearer = body.get("bearer") if isinstance(body, dict) else None
        return bearer if isinstance(bearer, str) and bearer else None

    async def _obtain(self, stale: Secret | None) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Make sure a usable token is stored, yielding the requests that takes.

        ``stale`` is the token a request was refused with: when another task
        has already replaced it, nothing is sent.

        Raises:
            LoginFailedError: The login answered without a token.
        """
        async with self._lock:
            if self._rejected is not None:
                raise LoginFailedError(self._rejected)
            if stale is not None:
                if self._token is not None and self._token != stale:
                    return
            elif not self._needs_token():
                return
            current = self._token
            # A token inside its refresh margin is refreshed; one that was
            # refused or is past its exp needs a new login.
            if current is not None and stale is None and not self._expired():
                response = yield self._refresh_request(current)
                token = self._read_token(response)
                if token is not None:
                    self._store(token)
                    return
            response = yield self._login_request()
            token = self._read_token(response)
            if token is None:
                self._token = None
                if response.status_code in _REJECTED:
                    self._rejected = response
                raise LoginFailedError(response)
            self._store(token)

    def _expired(self) -> bool:
        return self._expires_at is not None and self._clock() >= self._expires_at

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Authenticate ``request``; on a 401 log in again once and replay it."""
        stale: Secret | None = None
        for attempt in range(2):
            obtain = self._obtain(stale)
            try:
                try:
                    outgoing = await obtain.__anext__()
                    while True:
                        incoming = yield outgoing
                        await incoming.aread()
                        outgoing = await obtain.asend(incoming)
                except StopAsyncIteration:
                    pass
            finally:
                # Releases the lock if this flow is abandoned mid-login.
                await obtain.aclose()
            token = self._token
            if token is None:  # pragma: no cover - _obtain stores one or raises
                raise RuntimeError("no token after a successful login")
            request.headers["Authorization"] = f"Bearer {token.reveal()}"
            response = yield request
            if response.status_code != _UNAUTHORIZED or attempt:
                return
            stale = token
