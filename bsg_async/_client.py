"""The async Client: builds the layer stack and owns the one request edge.

Layers, outermost first::

    httpx.AsyncClient  (base URL, timeout, JWTAuth flow)
      RetryTransport        retries with backoff, Retry-After
        RateLimitTransport    in-flight cap, token bucket, shared pause
          ReadTransport         whole answer within a deadline and a size cap
            innermost             httpx.AsyncHTTPTransport, or the user's
                                  transport, or the user's httpx.AsyncClient

``Client._request`` is the only place where an answer becomes a model or an
exception.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
import warnings
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import httpx
import sniffio

from bsg_async import _converter
from bsg_async._auth import JWTAuth, LoginFailedError, Secret
from bsg_async._clock import Clock
from bsg_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    DecodeError,
    InvalidRequestError,
    describe_body,
    error_class_for,
)
from bsg_async._ratelimit import RateLimitTransport
from bsg_async._read import ReadTransport, ResponseTooLargeError
from bsg_async._retry import RetryPolicy, RetryTransport
from bsg_async.resources.contacts import Contacts
from bsg_async.resources.fields import Fields
from bsg_async.resources.lists import Lists
from bsg_async.resources.stoplist import Stoplist

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from typing_extensions import Self

    from bsg_async.resources._base import Params

__all__ = ["DEFAULT_BASE_URL", "Client", "InsecureTransportWarning"]

T = TypeVar("T")

DEFAULT_BASE_URL = "https://one-api.bsg.world/api"
_VERSION = "0.1.0"
_LOOPBACK_NAMES = frozenset({"localhost"})
_ERROR_STATUS = 400

logger = logging.getLogger("bsg_async")


class InsecureTransportWarning(UserWarning):
    """The API key would travel unencrypted to a host that is not loopback."""


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _BorrowedTransport(httpx.AsyncBaseTransport):
    """A transport the user lent us: used, never closed."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


class _ClientTransport(httpx.AsyncBaseTransport):
    """Sends through a user's ``httpx.AsyncClient`` (their proxies, hooks, pool)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request)


def _default_transport(backend: str, max_concurrency: int) -> httpx.AsyncBaseTransport:
    # Keep-alive == max connections >= in-flight cap: the pool then keeps
    # every connection of a burst instead of reopening them.
    limits = httpx.Limits(
        max_connections=max_concurrency, max_keepalive_connections=max_concurrency
    )
    if backend == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits)
    if backend == "aiohttp":
        try:
            from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - optional extra
        except ImportError:
            raise InvalidRequestError(
                'http_backend="aiohttp" needs httpx-aiohttp: pip install "bsg-async[aiohttp]"'
            ) from None
        transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
        return transport
    raise InvalidRequestError(f'http_backend must be "httpx" or "aiohttp", got {backend!r}')


class Client:
    """Async client of the BSG one-api Contacts family.

    Use it as ``async with Client() as client: ...`` or call ``aclose()``.

    Args:
        api_key: ``live_...`` or ``test_...``; defaults to ``$BSG_API_KEY``.
        base_url: API root; defaults to ``$BSG_BASE_URL``, then BSG's.
        timeout: Seconds allowed to connect, and between bytes of an answer.
        max_retries: Retries of a failed request (0 disables).
        retry_backoff: Base delay of the exponential backoff, in seconds.
        rate_limit: Requests per second for the whole client (None: no limit).
        max_concurrency: Most requests in flight at once.
        http_client: An ``httpx.AsyncClient`` to send through; the SDK
            does not close it.
        transport: Replaces the innermost transport (tests, emulators);
            the SDK does not close it.
        clock: Time source for the retry, pacing and auth layers (tests).
        http_backend: ``"aiohttp"`` sends through httpx-aiohttp's transport
            (asyncio only; ``pip install "bsg-async[aiohttp]"``): about 2.8x
            the requests per second of httpcore under concurrency.

    Raises:
        InvalidRequestError: No API key, or an option out of range.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        rate_limit: float | None = None,
        max_concurrency: int = 16,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        http_backend: Literal["httpx", "aiohttp"] = "httpx",
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("BSG_API_KEY")
        if not key:
            raise InvalidRequestError(
                "no API key: pass Client(api_key=...) or set the BSG_API_KEY environment variable"
            )
        self._check_options(max_retries, retry_backoff, rate_limit, max_concurrency)
        if http_client is not None and transport is not None:
            raise InvalidRequestError("pass either http_client or transport, not both")
        if http_backend != "httpx" and (http_client is not None or transport is not None):
            raise InvalidRequestError(
                "http_backend chooses our own transport: drop it, or drop http_client/transport"
            )
        self._api_key = Secret(key)
        url = base_url or os.environ.get("BSG_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = httpx.URL(url.rstrip("/") + "/")
        if self.base_url.scheme not in {"http", "https"} or not self.base_url.host:
            raise InvalidRequestError(f"base_url must be an http(s) URL, got {url!r}")
        if self.base_url.scheme == "http" and not _is_loopback(self.base_url.host):
            warnings.warn(
                f"the API key will be sent unencrypted to {self.base_url.host}; use https",
                InsecureTransportWarning,
                stacklevel=2,
            )
        clock = clock or Clock()

        if http_client is not None:
            innermost: httpx.AsyncBaseTransport = _ClientTransport(http_client)
        elif transport is not None:
            innermost = _BorrowedTransport(transport)
        else:
            innermost = _default_transport(http_backend, max_concurrency)
        deadline = float(timeout) if isinstance(timeout, (int, float)) else None
        self._reader = ReadTransport(innermost, deadline=deadline)
        self._pacer = RateLimitTransport(
            self._reader,
            rate=rate_limit,
            max_concurrency=max_concurrency,
            clock=clock.monotonic,
            sleep=clock.sleep,
        )
        self._retry = RetryTransport(
            self._pacer,
            RetryPolicy(max_retries=max_retries, backoff=retry_backoff),
            sleep=clock.sleep,
            jitter=clock.jitter,
        )
        self._auth = JWTAuth(
            self._api_key,
            login_url=str(self.base_url.join("auth/login")),
            refresh_url=str(self.base_url.join("auth/refresh")),
            clock=clock.time,
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=self._auth,
            transport=self._retry,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": f"bsg-async/{_VERSION}"},
            trust_env=False,
        )
        self._in_flight: set[anyio.CancelScope] = set()
        self._closing = False
        # aiohttp runs on asyncio only: checked on the first request.
        self._needs_asyncio = http_backend == "aiohttp" and transport is None
        self.contacts = Contacts(self._request)
        self.lists = Lists(self._request)
        self.fields = Fields(self._request)
        self.stoplist = Stoplist(self._request)

    @staticmethod
    def _check_options(
        max_retries: object, retry_backoff: object, rate_limit: object, max_concurrency: object
    ) -> None:
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise InvalidRequestError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if not isinstance(retry_backoff, (int, float)) or retry_backoff < 0:
            raise InvalidRequestError(f"retry_backoff must be >= 0, got {retry_backoff!r}")
        if rate_limit is not None and (
            not isinstance(rate_limit, (int, float)) or not rate_limit > 0
        ):
            raise InvalidRequestError(f"rate_limit must be None or > 0, got {rate_limit!r}")
        if (
            not isinstance(max_concurrency, int)
            or isinstance(max_concurrency, bool)
            or max_concurrency < 1
        ):
            raise InvalidRequestError(
                f"max_concurrency must be an int >= 1, got {max_concurrency!r}"
            )

    def __repr__(self) -> str:
        return f"Client(base_url={str(self.base_url)!r}, api_key=<redacted>)"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections this client owns (not a lent client or transport).

        Requests still in flight (in other tasks) end at once with
        ``APIConnectionError`` saying the client was closed.
        """
        self._closing = True
        for scope in list(self._in_flight):
            scope.cancel()
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` has run."""
        return self._http.is_closed

    async def _request(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[Any], T],
        params: Params | None = None,
        json: object = None,
        idempotent: bool | None = None,
    ) -> T:
        """Send one request; return ``parse(body)`` or raise the matching error."""
        if self._closing:
            raise APIConnectionError(f"{method} {path}: the client is closed")
        if self._needs_asyncio:
            if sniffio.current_async_library() != "asyncio":
                raise InvalidRequestError('http_backend="aiohttp" runs on asyncio only')
            self._needs_asyncio = False
        request = self._http.build_request(method, path.lstrip("/"), params=params, json=json)
        if idempotent is not None:
            request.extensions["bsg_idempotent"] = idempotent
        started = time.perf_counter()
        scope = anyio.CancelScope()
        self._in_flight.add(scope)
        try:
            with scope:
                response = await self._send(request)
        finally:
            self._in_flight.discard(scope)
        if scope.cancelled_caught:
            # Only aclose() cancels this scope; a cancellation from outside
            # propagates through it untouched.
            raise APIConnectionError(
                f"{method} {request.url.path}: the client was closed while the request"
                " was in flight",
                request=request,
                may_have_been_applied=idempotent is False,
            )
        logger.debug(
            "%s %s -> %d in %.1f ms (retries: %d)",
            method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            request.extensions.get("bsg_retries_taken", 0),
        )
        if response.status_code >= _ERROR_STATUS:
            raise _status_error(response)
        return _parse(response, parse)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send through the layers, translating their exceptions at this one edge."""
        try:
            return await self._http.send(request)
        except LoginFailedError as exc:
            raise _status_error(exc.response, login=True) from None
        except httpx.TimeoutException as exc:
            raise _connection_error(APITimeoutError, exc, request) from exc
        except httpx.TransportError as exc:
            raise _connection_error(APIConnectionError, exc, request) from exc
        except ResponseTooLargeError as exc:
            raise DecodeError(str(exc)) from None
        except RuntimeError:
            if self._http.is_closed:  # httpx refuses to send on a closed client
                raise APIConnectionError(
                    f"{request.method} {request.url.path}: the client is closed", request=request
                ) from None
            raise


def _connection_error(
    cls: type[APIConnectionError], exc: httpx.TransportError, request: httpx.Request
) -> APIConnectionError:
    retries = request.extensions.get("bsg_retries_taken", 0)
    applied = bool(request.extensions.get("bsg_may_have_been_applied", False))
    what = "timed out" if cls is APITimeoutError else "failed"
    message = f"{request.method} {request.url.path} {what}: {type(exc).__name__}"
    detail = str(exc)
    if detail:
        message += f" ({detail})"
    if retries:
        message += f" after {retries} retries"
    if applied:
        message += "; the request may have been applied, check before sending it again"
    return cls(message, request=request, retries_taken=retries, may_have_been_applied=applied)


def _json_body(response: httpx.Response) -> object:
    return _converter.loads(response.content)


def _status_error(response: httpx.Response, *, login: bool = False) -> APIStatusError:
    extensions = response.request.extensions
    message, errors = _error_details(response)
    cls = error_class_for(response.status_code, message)
    if login and response.status_code < 500:  # noqa: PLR2004
        cls = AuthenticationError
        message = f"the API key was rejected at login: {message}"
    return cls(
        message,
        response=response,
        errors=errors,
        retries_taken=extensions.get("bsg_retries_taken", 0),
        may_have_been_applied=bool(extensions.get("bsg_may_have_been_applied", False)),
    )


def _error_details(response: httpx.Response) -> tuple[str, object]:
    """The API's ``message`` and ``errors``, or a description of a foreign body."""
    try:
        body = _json_body(response)
    except _converter.JSON_ERRORS:
        return describe_body(response), None
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message, body.get("errors")
    return f"{response.reason_phrase or 'error'} ({describe_body(response)})", None


def _parse(response: httpx.Response, parse: Callable[[Any], T]) -> T:
    retries = response.request.extensions.get("bsg_retries_taken", 0)
    where = f"{response.request.method} {response.request.url.path}"
    if not response.content:
        body: object = None
    else:
        try:
            body = _json_body(response)
        except _converter.JSON_ERRORS:
            raise DecodeError(
                f"{where} -> {response.status_code} answered {describe_body(response)}",
                response=response,
                retries_taken=retries,
            ) from None
    try:
        return parse(body)
    except _converter.ShapeError as exc:
        raise DecodeError(
            f"{where} -> {response.status_code}: unexpected answer: {exc}",
            response=response,
            retries_taken=retries,
        ) from exc
