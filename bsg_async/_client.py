"""The async Client: builds the layer stack and owns the one request edge.

Layers, outermost first::

    RequestMaker       (a template from an httpx.AsyncClient: base URL, headers)
      RetryTransport        retries with backoff, Retry-After, the call's budget
        RateLimitTransport    in-flight cap, token bucket, shared pause
          AuthTransport         Bearer token stamped last; login, refresh, 401 replay
            ReadTransport         whole answer within a deadline and a size cap
              innermost             ShardedTransport over small httpcore pools
                                    (proxies from the environment), aiohttp, the
                                    user's transport, or the user's httpx.AsyncClient

The ``httpx.AsyncClient`` under the template owns the layers (closing it
closes them); requests go straight to the retry layer, as its ``send()``
would only add an auth flow, a redirect loop and a cookie jar.

Auth sits below pacing so that a request's token is read once it holds its
slot, never before it waits in line. Per-call options (``with_options``)
travel to the layers on each request's call record (``_call.Call``), so
every view of a client shares one pool, one token, one rate limiter and one
pause.

``Client._request`` is the only place where an answer becomes a model or an
exception.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import attrs
import httpx
import sniffio

from bsg_async import _transports, _validate
from bsg_async._answers import (
    DEFAULT_BASE_URL,
    connection_error,
    out_of_time,
    parse_answer,
    redirect_message,
    status_error,
    wait_error,
)
from bsg_async._auth import Secret, redact
from bsg_async._call import BodyError, LoginFailedError, Options, WaitTooLongError, call_of
from bsg_async._clock import Clock
from bsg_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BSGError,
    ClientClosedError,
    DecodeError,
    EventLoopError,
    InvalidRequestError,
)
from bsg_async._lifecycle import OTHER_LOOP, Lifecycle, close_dropped
from bsg_async._logging import configure_from_env
from bsg_async._observe import Answer, capture, capturing, operation_of, record_answer
from bsg_async._retry import RetryPolicy
from bsg_async._telemetry import Telemetry, telemetry
from bsg_async.resources.contacts import Contacts
from bsg_async.resources.fields import Fields
from bsg_async.resources.lists import Lists
from bsg_async.resources.stoplist import Stoplist

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

    from typing_extensions import Self

    from bsg_async._redis import RedisCoordination
    from bsg_async.resources._base import Params

__all__ = ["DEFAULT_BASE_URL", "Client", "InsecureTransportWarning", "UnclosedClientWarning"]

T = TypeVar("T")

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


class _NotGiven:
    """Marks an option ``with_options`` leaves as it was."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


def _base_url(url: str) -> httpx.URL:
    """The checked API root; a warning when the key would travel in clear to another host."""
    checked = _validate.check_base_url(url)
    if checked.scheme == "http" and not _validate.is_loopback(checked.host):
        warnings.warn(
            f"the API key will be sent unencrypted to {checked.host}; use https",
            InsecureTransportWarning,
            stacklevel=3,  # the caller of Client()
        )
    return checked


@attrs.frozen(kw_only=True)
class _Core:
    """What every view of one client shares: the layers, the request builder, the lifecycle."""

    base_url: httpx.URL
    http: httpx.AsyncClient
    maker: _transports.RequestMaker
    stack: _transports.Stack
    clock: Clock
    lifecycle: Lifecycle
    telemetry: Telemetry | None

    @classmethod
    def build(
        cls,
        url: httpx.URL,
        options: Options,
        clock: Clock,
        *,
        api_key: str,
        sources: tuple[httpx.AsyncClient | None, httpx.AsyncBaseTransport | None, str, bool],
        policy: RetryPolicy,
        rate_limit: float | None,
        max_concurrency: int,
        shared: RedisCoordination | None,
        hooks: Mapping[str, Sequence[Callable[..., Any]]],
        providers: tuple[object | None, object | None] = (None, None),
    ) -> _Core:
        """The layers over the innermost transport, and the request builder on top.

        ``sources``: the lent client, the lent transport, the backend, trust_env.
        """
        http_client, transport, backend, trust_env = sources
        instruments = telemetry(*providers)
        under = _transports.innermost(
            http_client=http_client,
            transport=transport,
            backend=backend,
            max_concurrency=max_concurrency,
            url=url,
            trust_env=trust_env,
        )
        stack = _transports.build_stack(
            under,
            api_key=Secret(api_key),
            base_url=url,
            timeout=options.timeout,
            clock=clock,
            policy=policy,
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            shared=shared,
            hooks=hooks,
            telemetry=instruments,
        )
        if shared is not None and instruments is not None:
            shared.time_with(id(instruments.redis_duration), instruments.redis_duration.record)
        # aiohttp and redis-py run on asyncio only: checked on the first request.
        asyncio_only = (backend == "aiohttp" and transport is None) or shared is not None
        http = _transports.request_builder(url, stack.retry, options.timeout)
        return cls(
            base_url=url,
            http=http,
            maker=_transports.RequestMaker(http),
            stack=stack,
            clock=clock,
            lifecycle=Lifecycle(needs_asyncio=asyncio_only),
            telemetry=instruments,
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
        http_backend: ``"auto"`` (the default) sends through aiohttp where
            httpx-aiohttp is installed (``pip install "bsg-async[aiohttp]"``)
            and the client runs on asyncio, else through httpcore (trio, or
            no aiohttp): aiohttp takes a third of httpcore's CPU per request.
            ``"httpx"`` always uses httpcore (what respx mocks);
            ``"aiohttp"`` always aiohttp (asyncio only).
        event_hooks: ``{"request": [...], "response": [...]}``: callables
            (plain or async) run for every HTTP exchange of a call, retries
            and 401 replays included (not logins), with the request, or the
            answer whose body has been read. An exception in a hook ends the
            call.
        tracer_provider: OpenTelemetry's ``TracerProvider`` for this
            client's spans (the ``otel`` extra); None: the global one.
        meter_provider: The ``MeterProvider`` for its metrics; None: the
            global one.
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
        http_backend: Literal["auto", "httpx", "aiohttp"] = "auto",
        shared: RedisCoordination | None = None,
        max_retry_after: float = 120.0,
        event_hooks: Mapping[str, Sequence[Callable[..., Any]]] | None = None,
        tracer_provider: object | None = None,
        meter_provider: object | None = None,
    ) -> None:
        configure_from_env()
        key = _validate.check_api_key(
            api_key if api_key is not None else os.environ.get("BSG_API_KEY")
        )
        _validate.check_client_options(
            retry_backoff=retry_backoff,
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            max_retry_after=max_retry_after,
        )
        options = Options(
            timeout=_validate.check_timeout(timeout),
            max_retries=_validate.check_retries(max_retries),
            total_timeout=_validate.check_total(total_timeout),
        )
        _validate.check_sources(
            http_client=http_client, transport=transport, http_backend=http_backend
        )
        url = _base_url(base_url or os.environ.get("BSG_BASE_URL") or DEFAULT_BASE_URL)
        core = _Core.build(
            url,
            options,
            clock or Clock(),
            api_key=key,
            sources=(http_client, transport, http_backend, trust_env),
            policy=RetryPolicy(
                max_retries=max_retries, backoff=retry_backoff, max_retry_after=max_retry_after
            ),
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            shared=shared,
            hooks=_validate.check_event_hooks(event_hooks),
            providers=(tracer_provider, meter_provider),
        )
        self._attach(core, options, parent=None)

    def _attach(self, core: _Core, options: Options, *, parent: Client | None) -> None:
        """Set every attribute of a client (``parent`` None) or of a view of ``parent``."""
        self._core = core
        self._options = options
        # A view keeps its owner alive: the owner's connections outlive it.
        self._parent = parent
        self.base_url: httpx.URL = core.base_url
        # The resources reach the owner through a weak reference: no cycle
        # keeps a client alive, so dropping it closes its connections at once.
        request = _Requester(parent or self, options)
        cap = core.stack.pacer.max_concurrency
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
            options = attrs.evolve(options, timeout=_validate.check_timeout(timeout))
        if max_retries is not NOT_GIVEN:
            options = attrs.evolve(options, max_retries=_validate.check_retries(max_retries))
        if total_timeout is not NOT_GIVEN:
            options = attrs.evolve(options, total_timeout=_validate.check_total(total_timeout))
        view = object.__new__(type(self))
        view._attach(self._core, options, parent=self._parent or self)
        return view

    def __repr__(self) -> str:
        return f"Client(base_url={str(self.base_url)!r}, api_key=<redacted>)"

    def __del__(self) -> None:
        # Only the owner of connections that were used and never closed acts
        # (aclose() from another loop can only forget them, but was called).
        # At interpreter exit the loop is gone and imports fail: stay quiet.
        core: _Core | None = getattr(self, "_core", None)
        if sys.is_finalizing() or core is None or self._parent is not None:
            return
        if core.http.is_closed or core.lifecycle.closing or core.lifecycle.loop is None:
            return  # closed, or never sent anything: nothing is open
        warnings.warn(
            f"{self!r} was dropped without being closed; its connections are closed now."
            " Close a client with `async with bsg_async.Client() as client:` or"
            " `await client.aclose()` (in a notebook: before re-running the cell that"
            " creates it)",
            UnclosedClientWarning,
            stacklevel=2,
        )
        close_dropped(core.lifecycle.loop, core.http)

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
        if self._parent is not None:
            return
        lifecycle = self._core.lifecycle
        lifecycle.closing = True
        if lifecycle.loop is not None and not lifecycle.check_loop():
            # The connections died with their loop; closing them from this
            # one would fail. Nothing is left to do but forget them.
            return
        for scope in list(lifecycle.in_flight):
            scope.cancel()
        await self._core.http.aclose()

    def responses(self) -> contextlib.AbstractContextManager[list[Answer]]:
        """Collect the answers of the calls made inside a ``with`` block.

        ::

            with client.responses() as answers:
                contact = await client.contacts.get(7)
            answers[0].status_code, answers[0].headers, answers[0].retries_taken

        Each call appends an :class:`Answer` (status, headers, elapsed,
        retries, attempts, the ``httpx.Response``) when it ends with an
        answer, errors included; calls in tasks started inside the block count
        too. Results keep their exact types: nothing else changes.
        """
        return capture()

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` has run."""
        return self._core.http.is_closed

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
        options: Options | None = None,
    ) -> T:
        """Send one request; return ``parse(content)`` or raise the matching error.

        ``options``: a view's per-call settings (None: this client's).
        """
        core = self._core
        self._check_ready(method, path)
        request = core.maker.build(method, path, params=params, json=json)
        options = options or self._options
        call = options.start(request, core.clock.monotonic(), idempotent=idempotent, write=write)
        instruments = core.telemetry
        if instruments is None or not instruments.active():
            if capturing():  # named only where a span or an Answer shows the name
                call.operation = operation_of(method, path)
            return await self._answer(request, options.total_timeout, parse)
        call.operation = operation_of(method, path)
        with instruments.operation(call.operation) as span:
            error: BaseException | None = None
            try:
                return await self._answer(request, options.total_timeout, parse)
            except BaseException as exc:
                error = exc
                raise
            finally:
                instruments.end_operation(span, call, error)

    async def _answer(
        self, request: httpx.Request, budget: float | None, parse: Callable[[bytes], T]
    ) -> T:
        """Send ``request``; its answer as ``parse(content)``, or the matching error."""
        started = time.perf_counter()
        response = await self._send_within(request, budget)
        elapsed = time.perf_counter() - started
        call = call_of(request)
        logger.info(
            "%s %s -> %d in %.1f ms (retries: %d)",
            request.method,
            request.url.path,
            response.status_code,
            elapsed * 1000,
            call.retries_taken,
        )
        record_answer(response, elapsed)
        if response.status_code >= _ERROR_STATUS:
            raise status_error(response)
        if response.status_code >= _REDIRECT_STATUS:
            raise APIStatusError(
                redirect_message(f"{request.method} {request.url.path}", response),
                response=response,
            )
        return parse_answer(response, parse)

    async def _send_within(self, request: httpx.Request, budget: float | None) -> httpx.Response:
        """Send in a scope that ``aclose()`` and the call's ``budget`` (seconds) cancel."""
        lifecycle = self._core.lifecycle
        # One scope serves aclose() (which cancels it) and the call's budget
        # (its deadline): the layers keep to the budget on the injected clock,
        # this scope also bounds what they cannot see, a wait for a slot.
        scope = anyio.CancelScope()
        if budget is not None:
            scope.deadline = anyio.current_time() + budget
        lifecycle.in_flight.add(scope)
        try:
            with scope:
                return await self._send(request)
        finally:
            lifecycle.in_flight.discard(scope)
            # Errors keep the request (and the response its request): the
            # bearer token must not travel with them.
            redact(request.headers)
        # Reached only when the scope was cancelled, which only aclose() and
        # the budget do: a cancellation from outside propagates untouched.
        raise self._cut_short(request, budget)

    def _cut_short(self, request: httpx.Request, budget: float | None) -> BSGError:
        """The error of a call cancelled by ``aclose()`` or by its budget."""
        if not self._core.lifecycle.closing:
            return out_of_time(request, budget)
        return ClientClosedError(
            f"{request.method} {request.url.path}: the client was closed while the request"
            " was in flight",
            request=request,
            may_have_been_applied=call_of(request).idempotent is False,
        )

    def _check_ready(self, method: str, path: str) -> None:
        """Refuse to send from a closed client, another loop, or trio with aiohttp."""
        lifecycle = self._core.lifecycle
        if lifecycle.closing:
            raise ClientClosedError(f"{method} {path}: the client is closed")
        if not lifecycle.check_loop():
            raise EventLoopError(f"{method} {path} not sent: {OTHER_LOOP}")
        if lifecycle.needs_asyncio:
            if sniffio.current_async_library() != "asyncio":
                raise InvalidRequestError(
                    'http_backend="aiohttp" and shared=RedisCoordination(...) run on asyncio only'
                )
            lifecycle.needs_asyncio = False

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send through the layers, translating their exceptions at this one edge."""
        # Straight down the layers: the request builder's send() would add
        # its auth flow, redirect loop and cookie jar, none of which apply.
        try:
            response = await self._core.stack.retry.handle_async_request(request)
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
        else:
            response.request = request
            return response
        # Raised here, outside the handler, so that the error carries no
        # context. (The login request it keeps was emptied once sent: the
        # auth layer erases the key from its body.)
        raise status_error(refused, login=True, served=request)


class _Requester:
    """What resources send through: the owning client, held weakly, and a view's settings."""

    __slots__ = ("_client", "_options")

    def __init__(self, client: Client, options: Options) -> None:
        self._client = weakref.ref(client)
        self._options = options

    @property
    def telemetry(self) -> Telemetry | None:
        """The client's tracing instruments (None: without OpenTelemetry, or the client is gone)."""
        client = self._client()
        return None if client is None else client._core.telemetry  # noqa: SLF001

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
