"""The async Client: builds the layer stack and owns the one request edge.

Layers, outermost first::

    httpx.AsyncClient  (base URL, headers, per-phase timeouts)
      RetryTransport        retries with backoff, Retry-After, the call's budget
        RateLimitTransport    in-flight cap, token bucket, shared pause
          AuthTransport         Bearer token stamped last; login, refresh, 401 replay
            ReadTransport         whole answer within a deadline and a size cap
              innermost             ShardedTransport over small httpcore pools
                                    (proxies from the environment), aiohttp, the
                                    user's transport, or the user's httpx.AsyncClient

Auth sits below pacing so that a request's token is read once it holds its
slot, never before it waits in line. Per-call options (``with_options``)
travel to the layers on each request's call record (``_call.Call``), so
every view of a client shares one pool, one token, one rate limiter and one
pause.

``Client._request`` is the only place where an answer becomes a model or an
exception.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import ipaddress
import logging
import math
import os
import sys
import threading
import time
import urllib.request
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import attrs
import httpx
import sniffio

from bsg_async._answers import (
    DEFAULT_BASE_URL,
    connection_error,
    out_of_time,
    parse_answer,
    redirect_message,
    status_error,
    wait_error,
)
from bsg_async._auth import AuthTransport, Secret, redact
from bsg_async._call import KEY, BodyError, Call, LoginFailedError, WaitTooLongError
from bsg_async._clock import Clock
from bsg_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    DecodeError,
    EventLoopError,
    InvalidRequestError,
)
from bsg_async._pool import ShardedTransport
from bsg_async._ratelimit import RateLimitTransport
from bsg_async._read import ReadTransport
from bsg_async._retry import RetryPolicy, RetryTransport
from bsg_async._version import __version__
from bsg_async.resources.contacts import Contacts
from bsg_async.resources.fields import Fields
from bsg_async.resources.lists import Lists
from bsg_async.resources.stoplist import Stoplist

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from types import TracebackType

    from typing_extensions import Self

    from bsg_async._shared import RedisCoordination
    from bsg_async.resources._base import Params

__all__ = ["DEFAULT_BASE_URL", "Client", "InsecureTransportWarning", "UnclosedClientWarning"]

T = TypeVar("T")

_LOOPBACK_NAMES = frozenset({"localhost"})
_ERROR_STATUS = 400
_REDIRECT_STATUS = 300
# Default budget of one call: retries, waits in line and pauses included.
DEFAULT_TOTAL_TIMEOUT = 300.0

logger = logging.getLogger("bsg_async")


class InsecureTransportWarning(UserWarning):
    """The API key would travel unencrypted to a host that is not loopback."""


class UnclosedClientWarning(UserWarning):
    """A client that had opened connections was dropped without ``aclose()``.

    Its connections are closed for it (on the event loop it ran in), but a
    client should be closed by the code that made it: ``async with Client()``
    or ``await client.aclose()``. In a notebook, re-running the cell that
    makes a client is the usual cause.
    """


# Closing tasks started for dropped clients, kept until they end.
_CLOSING: set[asyncio.Task[None]] = set()


def _close_dropped(loop: object, http: httpx.AsyncClient) -> None:
    """Close a dropped client's connections on the loop (or trio run) that owns them."""
    # asyncio is imported only where it runs (it costs ~10 ms at import).
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and isinstance(loop, asyncio.AbstractEventLoop):
        if loop.is_closed():
            return

        def start() -> None:
            task = loop.create_task(http.aclose())
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

        loop.call_soon_threadsafe(start)
        return
    import trio  # noqa: PLC0415 - only a trio run binds a TrioToken

    if isinstance(loop, trio.lowlevel.TrioToken):
        try:
            loop.run_sync_soon(lambda: trio.lowlevel.spawn_system_task(http.aclose))
        except trio.RunFinishedError:
            return


def _import_apart(name: str) -> None:
    """Import a module in a thread of its own (once), not under the client being built.

    Some imports leave garbage cycles holding frames (trio, imported by
    httpcore, counts its traceback frames at import time), and a frame holds
    every frame that called it: imported from ``Client.__init__``, they would
    keep the first client of a process alive until the garbage collector ran,
    so dropping it would not close its connections.
    """
    if name in sys.modules:
        return

    def load() -> None:
        with contextlib.suppress(ImportError):  # said by the import that needs it
            importlib.import_module(name)

    worker = threading.Thread(target=load, name=f"bsg-import-{name}", daemon=True)
    worker.start()
    worker.join()


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
        # Streamed: the read layer above reads (and caps) the body itself; a
        # response already read by send() would leave it an empty stream.
        # Never redirected, whatever the lent client says: a redirect would
        # carry the key (at login) or the token to wherever it points.
        return await self._client.send(request, stream=True, follow_redirects=False)


def environment_proxy(url: httpx.URL) -> httpx.Proxy | None:
    """The proxy the environment names for ``url``, as httpx reads it.

    ``HTTPS_PROXY``/``HTTP_PROXY`` by the URL's scheme, else ``ALL_PROXY``;
    none when ``NO_PROXY`` covers the host.
    """
    proxies = urllib.request.getproxies()
    address = proxies.get(url.scheme) or proxies.get("all")
    if not address:
        return None
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    if urllib.request.proxy_bypass(host):
        return None
    if "://" not in address:
        address = f"http://{address}"
    return httpx.Proxy(address)


def _limits(connections: int) -> httpx.Limits:
    # Keep-alive == max connections >= in-flight cap: the pool then keeps
    # every connection of a burst instead of reopening them.
    return httpx.Limits(max_connections=connections, max_keepalive_connections=connections)


def _default_transport(
    backend: str, max_concurrency: int, url: httpx.URL, *, trust_env: bool
) -> httpx.AsyncBaseTransport:
    # Every request goes to the one API host, so its proxy is chosen once.
    proxy = environment_proxy(url) if trust_env else None
    if backend == "httpx":
        _import_apart("httpcore")  # httpx imports it on first use
        # One TLS context for every pool: building one loads the CA bundle.
        tls = httpx.create_ssl_context(verify=True, trust_env=trust_env)

        def pool(connections: int) -> httpx.AsyncBaseTransport:
            return httpx.AsyncHTTPTransport(
                verify=tls, limits=_limits(connections), proxy=proxy, trust_env=trust_env
            )

        return ShardedTransport(pool, max_concurrency)
    if backend == "aiohttp":
        _import_apart("httpx_aiohttp")
        try:
            from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - optional extra
        except ImportError:
            raise InvalidRequestError(
                'http_backend="aiohttp" needs httpx-aiohttp: pip install "bsg-async[aiohttp]"'
            ) from None
        transport: httpx.AsyncBaseTransport = AiohttpTransport(
            limits=_limits(max_concurrency), proxy=proxy, trust_env=trust_env
        )
        return transport
    raise InvalidRequestError(f'http_backend must be "httpx" or "aiohttp", got {backend!r}')


class _NotGiven:
    """Marks an option ``with_options`` leaves as it was."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


def _exchange_deadline(timeout: httpx.Timeout) -> float | None:
    """Seconds allowed for one whole exchange: the longest phase limit set."""
    limits = [value for value in timeout.as_dict().values() if value is not None]
    return max(limits) if limits else None


def _check_timeout(timeout: object) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is None:
        return httpx.Timeout(None)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidRequestError(
            f"timeout must be seconds > 0, an httpx.Timeout or None, got {timeout!r}"
        )
    return httpx.Timeout(float(timeout))


def _check_total(total_timeout: object) -> float | None:
    if total_timeout is None:
        return None
    if (
        isinstance(total_timeout, bool)
        or not isinstance(total_timeout, (int, float))
        or math.isnan(total_timeout)
        or total_timeout <= 0
    ):
        raise InvalidRequestError(
            f"total_timeout must be seconds > 0 or None, got {total_timeout!r}"
        )
    return float(total_timeout)


def _check_retries(max_retries: object) -> int:
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise InvalidRequestError(f"max_retries must be an int >= 0, got {max_retries!r}")
    return max_retries


@attrs.frozen(kw_only=True)
class _Options:
    """Settings of one view of a client, sent down the layers per request."""

    timeout: httpx.Timeout
    max_retries: int
    total_timeout: float | None

    @functools.cached_property
    def _httpx_timeout(self) -> dict[str, float | None]:
        return self.timeout.as_dict()

    @functools.cached_property
    def _exchange_timeout(self) -> float | None:
        return _exchange_deadline(self.timeout)

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


def _current_loop() -> object:
    """The running event loop (asyncio) or run (trio)."""
    if sniffio.current_async_library() == "trio":
        import trio  # noqa: PLC0415 - only where trio runs

        return trio.lowlevel.current_trio_token()
    import asyncio  # noqa: PLC0415 - already loaded: an asyncio loop is running

    return asyncio.get_running_loop()


class _Lifecycle:
    """What every view of one client shares about being open, and where."""

    def __init__(self) -> None:
        self.in_flight: set[anyio.CancelScope] = set()
        self.closing = False
        self.loop: object | None = None

    def check_loop(self) -> bool:
        """Bind to the running loop on first use; False when it is another one."""
        loop = _current_loop()
        if self.loop is None:
            self.loop = loop
        return self.loop is loop


_OTHER_LOOP = (
    "this Client first ran in another event loop, which owns its connections"
    " (two asyncio.run() calls with one module-level client?). Create the client"
    " inside the function that asyncio.run() runs, with `async with Client() as"
    " client:`; from synchronous code, keep one loop for all calls, e.g. with"
    " anyio.from_thread.start_blocking_portal() (README: Synchronous scripts)"
)


class Client:
    """Async client of the BSG one-api Contacts family.

    Use it as ``async with Client() as client: ...`` or call ``aclose()``.

    Args:
        api_key: ``live_...`` or ``test_...``; defaults to ``$BSG_API_KEY``.
        base_url: API root; defaults to ``$BSG_BASE_URL``, then BSG's.
        timeout: Seconds allowed to connect, between bytes of an answer, and
            for one whole exchange (a server dripping bytes cannot stretch
            it). An ``httpx.Timeout`` sets each phase; the whole exchange
            then gets the longest of them.
        max_retries: Retries of a failed request (0 disables).
        total_timeout: Seconds one call may take in all: waiting in line,
            pauses, every attempt and the backoff between them (None: no
            bound). A ``Retry-After`` longer than what is left raises
            ``RateLimitError`` at once instead of sleeping past it.
        retry_backoff: Base delay of the exponential backoff, in seconds.
        rate_limit: Requests per second for the whole client (None: no limit).
        max_concurrency: Most requests in flight at once.
        http_client: An ``httpx.AsyncClient`` to send through; the SDK
            does not close it.
        transport: Replaces the innermost transport (tests, emulators);
            the SDK does not close it.
        clock: Time source for the retry, pacing and auth layers (tests).
        trust_env: Honour ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
            ``NO_PROXY``, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` as httpx
            does (our own transport only; a lent client or transport
            brings its own settings).
        shared: Share the rate limit, any server-requested pause and the
            token with every other client given the same coordination
            (``RedisCoordination``, asyncio only; see README "Many workers").
        http_backend: ``"aiohttp"`` sends through httpx-aiohttp's transport
            (asyncio only; ``pip install "bsg-async[aiohttp]"``): about 2.8x
            the requests per second of httpcore under concurrency.
        max_retry_after: Longest ``Retry-After`` the SDK waits out, in
            seconds. A longer one ends the call at once (``RateLimitError``
            with the server's ``retry_after``) and pauses the client, and any
            workers sharing its coordination, for this long only. Negative,
            infinite or unreadable values are ignored (backoff applies).

    Raises:
        InvalidRequestError: No API key, or an option out of range.
    """

    contacts: Contacts
    """Contacts: list, search, get, create, update, delete, bulk calls."""
    lists: Lists
    """Contact lists (the API's groups)."""
    fields: Fields
    """Custom fields."""
    stoplist: Stoplist
    """The stop list."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = 30.0,
        max_retries: int = 3,
        total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
        retry_backoff: float = 0.5,
        rate_limit: float | None = None,
        max_concurrency: int = 16,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        trust_env: bool = True,
        http_backend: Literal["httpx", "aiohttp"] = "httpx",
        shared: RedisCoordination | None = None,
        max_retry_after: float = 120.0,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("BSG_API_KEY")
        if not key:
            raise InvalidRequestError(
                "no API key: pass Client(api_key=...) or set the BSG_API_KEY environment variable"
            )
        self._check_options(retry_backoff, rate_limit, max_concurrency)
        if (
            not isinstance(max_retry_after, (int, float))
            or isinstance(max_retry_after, bool)
            or not 0 < max_retry_after < math.inf
        ):
            raise InvalidRequestError(
                f"max_retry_after must be a number of seconds > 0, got {max_retry_after!r}"
            )
        self._options = _Options(
            timeout=_check_timeout(timeout),
            max_retries=_check_retries(max_retries),
            total_timeout=_check_total(total_timeout),
        )
        if http_client is not None and transport is not None:
            raise InvalidRequestError("pass either http_client or transport, not both")
        if http_backend != "httpx" and (http_client is not None or transport is not None):
            raise InvalidRequestError(
                "http_backend chooses our own transport: drop it, or drop http_client/transport"
            )
        self._api_key = Secret(key)
        url = base_url or os.environ.get("BSG_BASE_URL") or DEFAULT_BASE_URL
        self.base_url: httpx.URL = httpx.URL(url.rstrip("/") + "/")
        if self.base_url.scheme not in {"http", "https"} or not self.base_url.host:
            raise InvalidRequestError(f"base_url must be an http(s) URL, got {url!r}")
        if self.base_url.scheme == "http" and not _is_loopback(self.base_url.host):
            warnings.warn(
                f"the API key will be sent unencrypted to {self.base_url.host}; use https",
                InsecureTransportWarning,
                stacklevel=2,
            )
        self._clock = clock = clock or Clock()

        if http_client is not None:
            innermost: httpx.AsyncBaseTransport = _ClientTransport(http_client)
        elif transport is not None:
            innermost = _BorrowedTransport(transport)
        else:
            innermost = _default_transport(
                http_backend, max_concurrency, self.base_url, trust_env=trust_env
            )
        self._reader = ReadTransport(innermost, deadline=_exchange_deadline(self._options.timeout))
        self._auth = AuthTransport(
            self._reader,
            self._api_key,
            login_url=str(self.base_url.join("auth/login")),
            refresh_url=str(self.base_url.join("auth/refresh")),
            clock=clock.time,
            shared=shared,
        )
        self._pacer = RateLimitTransport(
            self._auth,
            rate=rate_limit,
            max_concurrency=max_concurrency,
            clock=clock.monotonic,
            sleep=clock.sleep,
            shared=shared,
            max_pause=max_retry_after,
        )
        self._retry = RetryTransport(
            self._pacer,
            RetryPolicy(
                max_retries=max_retries, backoff=retry_backoff, max_retry_after=max_retry_after
            ),
            sleep=clock.sleep,
            jitter=clock.jitter,
            clock=clock.monotonic,
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=self._retry,
            timeout=self._options.timeout,
            headers={
                "Accept": "application/json",
                # Decoded (and capped) by the read layer; nothing else is asked for.
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": f"bsg-async/{__version__}",
            },
            # Environment proxies and certificates are applied by the
            # innermost transport; this client only builds requests.
            trust_env=False,
        )
        self._lifecycle = _Lifecycle()
        self._owner = True
        self._parent: Client | None = None
        # aiohttp and redis-py run on asyncio only: checked on the first request.
        self._needs_asyncio = (http_backend == "aiohttp" and transport is None) or (
            shared is not None
        )
        self._bind_resources()

    def _bind_resources(self) -> None:
        cap = self._pacer.max_concurrency
        # The resources reach the owner through a weak reference: no cycle
        # keeps a client alive, so dropping it closes its connections at once.
        owner = self if self._owner else self._parent
        assert owner is not None  # noqa: S101 - a view always has its owner
        request = _Requester(owner, self._options)
        self.contacts = Contacts(request, max_concurrency=cap)
        self.lists = Lists(request, max_concurrency=cap)
        self.fields = Fields(request, max_concurrency=cap)
        self.stoplist = Stoplist(request, max_concurrency=cap)

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = NOT_GIVEN,
        max_retries: int = NOT_GIVEN,
        total_timeout: float | None = NOT_GIVEN,
    ) -> Client:
        """A view of this client with other per-call settings.

        The view shares everything else: the connection pool, the token, the
        rate limit, the in-flight cap and any server-requested pause. It is
        cheap to make per call::

            contact = await client.with_options(max_retries=0, timeout=2).contacts.get(7)

        Closing a view closes nothing; the client it came from owns the
        connections.

        Args:
            timeout: As ``Client(timeout=...)``.
            max_retries: As ``Client(max_retries=...)``.
            total_timeout: As ``Client(total_timeout=...)``.

        Raises:
            InvalidRequestError: An option out of range.
        """
        options = self._options
        if timeout is not NOT_GIVEN:
            options = attrs.evolve(options, timeout=_check_timeout(timeout))
        if max_retries is not NOT_GIVEN:
            options = attrs.evolve(options, max_retries=_check_retries(max_retries))
        if total_timeout is not NOT_GIVEN:
            options = attrs.evolve(options, total_timeout=_check_total(total_timeout))
        view = copy.copy(self)
        view._options = options  # noqa: SLF001 - a copy of this very class
        view._owner = False  # noqa: SLF001
        # The owner lives as long as its views.
        view._parent = self._parent or self  # noqa: SLF001
        view._bind_resources()  # noqa: SLF001
        return view

    @staticmethod
    def _check_options(retry_backoff: object, rate_limit: object, max_concurrency: object) -> None:
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

    def __del__(self) -> None:
        # Only the owner of connections that were used and never closed acts
        # (aclose() from another loop can only forget them, but was called).
        # At interpreter exit the loop is gone and imports fail: stay quiet.
        if sys.is_finalizing() or not getattr(self, "_owner", False) or self._http.is_closed:
            return
        if self._lifecycle.closing:
            return
        loop = self._lifecycle.loop
        if loop is None:
            return  # never sent anything: nothing is open
        warnings.warn(
            f"{self!r} was dropped without being closed; its connections are closed now."
            " Close a client with `async with bsg_async.Client() as client:` or"
            " `await client.aclose()` (in a notebook: before re-running the cell that"
            " creates it)",
            UnclosedClientWarning,
            stacklevel=2,
        )
        _close_dropped(loop, self._http)

    @property
    def timeout(self) -> httpx.Timeout:
        """Per-phase timeouts of this client (or view)."""
        return self._options.timeout

    @property
    def max_retries(self) -> int:
        """Retries of a failed request made by this client (or view)."""
        return self._options.max_retries

    @property
    def total_timeout(self) -> float | None:
        """Budget of one call, in seconds, for this client (or view)."""
        return self._options.total_timeout

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

        Requests still in flight (in other tasks, through any view) end at
        once with ``APIConnectionError`` saying the client was closed. On a
        view made by ``with_options`` this does nothing.
        """
        if not self._owner:
            return
        lifecycle = self._lifecycle
        lifecycle.closing = True
        if lifecycle.loop is not None and not lifecycle.check_loop():
            # The connections died with their loop; closing them from this
            # one would fail. Nothing is left to do but forget them.
            return
        for scope in list(lifecycle.in_flight):
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
        parse: Callable[[bytes], T],
        params: Params | None = None,
        json: object = None,
        idempotent: bool | None = None,
        write: bool = False,
        options: _Options | None = None,
    ) -> T:
        """Send one request; return ``parse(content)`` or raise the matching error.

        ``options``: a view's per-call settings (None: this client's).
        """
        lifecycle = self._lifecycle
        self._check_ready(method, path)
        request = self._http.build_request(method, path.lstrip("/"), params=params, json=json)
        options = options or self._options
        call = options.start(request, self._clock.monotonic(), idempotent=idempotent, write=write)
        started = time.perf_counter()
        # One scope serves aclose() (which cancels it) and the call's budget
        # (its deadline): the layers keep to the budget on the injected clock,
        # this scope also bounds what they cannot see, a wait for a slot.
        scope = anyio.CancelScope()
        if options.total_timeout is not None:
            scope.deadline = anyio.current_time() + options.total_timeout
        lifecycle.in_flight.add(scope)
        try:
            with scope:
                response = await self._send(request)
        finally:
            lifecycle.in_flight.discard(scope)
            # Errors keep the request (and the response its request): the
            # bearer token must not travel with them.
            redact(request.headers)
        if scope.cancelled_caught:
            # Only aclose() and the budget cancel this scope; a cancellation
            # from outside propagates through it untouched.
            if lifecycle.closing:
                raise ClientClosedError(
                    f"{method} {request.url.path}: the client was closed while the request"
                    " was in flight",
                    request=request,
                    may_have_been_applied=idempotent is False,
                )
            raise out_of_time(request, options.total_timeout)
        logger.debug(
            "%s %s -> %d in %.1f ms (retries: %d)",
            method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            call.retries_taken,
        )
        if response.status_code >= _ERROR_STATUS:
            raise status_error(response)
        if response.status_code >= _REDIRECT_STATUS:
            raise APIStatusError(
                redirect_message(f"{method} {request.url.path}", response), response=response
            )
        return parse_answer(response, parse)

    def _check_ready(self, method: str, path: str) -> None:
        """Refuse to send from a closed client, another loop, or trio with aiohttp."""
        if self._lifecycle.closing:
            raise ClientClosedError(f"{method} {path}: the client is closed")
        if not self._lifecycle.check_loop():
            raise EventLoopError(f"{method} {path} not sent: {_OTHER_LOOP}")
        if self._needs_asyncio:
            if sniffio.current_async_library() != "asyncio":
                raise InvalidRequestError(
                    'http_backend="aiohttp" and shared=RedisCoordination(...) run on asyncio only'
                )
            self._needs_asyncio = False

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send through the layers, translating their exceptions at this one edge."""
        try:
            return await self._http.send(request)
        except LoginFailedError as exc:
            refused = exc.response
        except WaitTooLongError as exc:
            raise wait_error(exc, request) from None
        except httpx.TimeoutException as exc:
            raise connection_error(APITimeoutError, exc, request) from exc
        except httpx.TransportError as exc:
            raise connection_error(APIConnectionError, exc, request) from exc
        except BodyError as exc:
            raise DecodeError(str(exc)) from None
        except RuntimeError:
            if self._http.is_closed:  # httpx refuses to send on a closed client
                raise ClientClosedError(
                    f"{request.method} {request.url.path}: the client is closed", request=request
                ) from None
            raise
        # Raised here, outside the handler, so that the error carries no
        # context. (The login request it keeps was emptied once sent: the
        # auth layer erases the key from its body.)
        raise status_error(refused, login=True, served=request)


class _Requester:
    """What resources send through: the owning client, held weakly, and a view's settings."""

    __slots__ = ("_client", "_options")

    def __init__(self, client: Client, options: _Options) -> None:
        self._client = weakref.ref(client)
        self._options = options

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[bytes], T],
        params: Params | None = None,
        json: object = None,
        idempotent: bool | None = None,
        write: bool = False,
    ) -> T:
        client = self._client()
        if client is None:
            raise ClientClosedError(
                f"{method} {path}: the Client this resource belongs to was garbage collected"
                " (and its connections closed); keep the client in a variable while you use it"
            )
        return await client._request(  # noqa: SLF001 - the client's own helper
            method,
            path,
            parse=parse,
            params=params,
            json=json,
            idempotent=idempotent,
            write=write,
            options=self._options,
        )
