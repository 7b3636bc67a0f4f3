"""The transports under the layers, and the stack the client builds on them.

The innermost transport is one of: our own (small httpcore pools sharded by
``_pool.ShardedTransport``, or httpx-aiohttp's), a transport the user lent
(used, never closed), or a user's ``httpx.AsyncClient`` (their proxies and
hooks; redirects never followed). ``build_stack`` puts the read, auth,
pacing and retry layers on it, and ``request_builder`` the
``httpx.AsyncClient`` that builds each request and sends it through them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import re
import ssl
import sys
import threading
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

import attrs
import httpx
import sniffio

from bsg_async._auth import AuthTransport, Secret
from bsg_async._call import exchange_deadline
from bsg_async._errors import InvalidRequestError
from bsg_async._observe import AttemptLayer
from bsg_async._pool import ShardedTransport
from bsg_async._ratelimit import RateLimitTransport
from bsg_async._read import ReadTransport
from bsg_async._retry import RetryPolicy, RetryTransport
from bsg_async._version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from bsg_async._clock import Clock
    from bsg_async._redis import RedisCoordination
    from bsg_async._telemetry import Telemetry

__all__ = [
    "AutoTransport",
    "BorrowedTransport",
    "ClientTransport",
    "Stack",
    "build_stack",
    "default_transport",
    "environment_proxy",
    "innermost",
    "RequestMaker",
    "request_builder",
]


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


class BorrowedTransport(httpx.AsyncBaseTransport):
    """A transport the user lent us: used, never closed."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


class ClientTransport(httpx.AsyncBaseTransport):
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


@functools.lru_cache(maxsize=4)
def _verifying_context(
    trust_env: bool, cert_file: str | None, cert_dir: str | None
) -> ssl.SSLContext:
    """One TLS context per settings, shared by every client: loading the CA bundle costs ~20 ms.

    ``cert_file`` and ``cert_dir`` (``SSL_CERT_FILE``/``SSL_CERT_DIR``, read by
    httpx when ``trust_env``) are part of the cache key.
    """
    del cert_file, cert_dir  # read by httpx from the environment
    return httpx.create_ssl_context(verify=True, trust_env=trust_env)


def tls_context(url: httpx.URL, proxy: httpx.Proxy | None, *, trust_env: bool) -> ssl.SSLContext:
    """The TLS context for connections to ``url`` (through ``proxy``).

    For a plain-http URL and proxy no connection uses TLS: a context that
    verifies but trusts no certificate stands in (0.1 ms), so a TLS
    connection could never pass unchecked.
    """
    if url.scheme != "https" and (proxy is None or proxy.url.scheme != "https"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not trust_env:
        return _verifying_context(trust_env=False, cert_file=None, cert_dir=None)
    return _verifying_context(
        trust_env=True,
        cert_file=os.environ.get("SSL_CERT_FILE"),
        cert_dir=os.environ.get("SSL_CERT_DIR"),
    )


def _aiohttp_installed() -> bool:
    return importlib.util.find_spec("httpx_aiohttp") is not None


def _httpcore_pools(
    max_concurrency: int, url: httpx.URL, proxy: httpx.Proxy | None, *, trust_env: bool
) -> httpx.AsyncBaseTransport:
    _import_apart("httpcore")  # httpx imports it on first use
    tls = tls_context(url, proxy, trust_env=trust_env)

    def pool(connections: int) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport(
            verify=tls, limits=_limits(connections), proxy=proxy, trust_env=trust_env
        )

    return ShardedTransport(pool, max_concurrency)


def _aiohttp_session(
    max_concurrency: int, url: httpx.URL, proxy: httpx.Proxy | None, *, trust_env: bool
) -> httpx.AsyncBaseTransport:
    _import_apart("httpx_aiohttp")
    try:
        from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - optional extra
    except ImportError:
        raise InvalidRequestError(
            'http_backend="aiohttp" needs httpx-aiohttp: pip install "bsg-async[aiohttp]"'
        ) from None
    from bsg_async._aiohttp import AiohttpOutcomes  # noqa: PLC0415 - imports aiohttp

    return AiohttpOutcomes(
        AiohttpTransport(
            verify=tls_context(url, proxy, trust_env=trust_env),
            limits=_limits(max_concurrency),
            proxy=proxy,
            trust_env=trust_env,
        )
    )


class AutoTransport(httpx.AsyncBaseTransport):
    """The fastest transport for the event loop a client runs on, chosen at its first request.

    aiohttp where httpx-aiohttp is installed and the loop is asyncio (about
    2.8x the requests per second of httpcore under concurrency, a third of
    the CPU per request); httpcore's pools otherwise (trio, or no aiohttp).
    ``chosen`` names the one in use ("" before the first request).
    """

    def __init__(self, make: Callable[[str], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._transport: httpx.AsyncBaseTransport | None = None
        self.chosen = ""

    def choose(self, library: str) -> httpx.AsyncBaseTransport:
        """Build the transport for ``library`` (sniffio's name of the running loop), once."""
        if self._transport is None:
            self.chosen = "aiohttp" if library == "asyncio" and _aiohttp_installed() else "httpx"
            self._transport = self._make(self.chosen)
        return self._transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the chosen transport (choosing it on the first request)."""
        transport = self._transport or self.choose(sniffio.current_async_library())
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the chosen transport, if any was built."""
        if self._transport is not None:
            await self._transport.aclose()


def default_transport(
    backend: str, max_concurrency: int, url: httpx.URL, *, trust_env: bool
) -> httpx.AsyncBaseTransport:
    """Our own transport: httpcore's pools, aiohttp, or the best of them for the loop ("auto")."""
    # Every request goes to the one API host, so its proxy is chosen once.
    proxy = environment_proxy(url) if trust_env else None

    def make(chosen: str) -> httpx.AsyncBaseTransport:
        if chosen == "aiohttp":
            return _aiohttp_session(max_concurrency, url, proxy, trust_env=trust_env)
        return _httpcore_pools(max_concurrency, url, proxy, trust_env=trust_env)

    if backend in ("httpx", "aiohttp"):
        return make(backend)
    if backend == "auto":
        auto = AutoTransport(make)
        try:  # made inside a running loop (the usual case): choose now, not on the first request
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            return auto
        auto.choose(library)
        return auto
    raise InvalidRequestError(f'http_backend must be "auto", "httpx" or "aiohttp", got {backend!r}')


def innermost(
    *,
    http_client: httpx.AsyncClient | None,
    transport: httpx.AsyncBaseTransport | None,
    backend: str,
    max_concurrency: int,
    url: httpx.URL,
    trust_env: bool,
) -> httpx.AsyncBaseTransport:
    """The transport under every layer: the user's client or transport, else our own."""
    if http_client is not None:
        return ClientTransport(http_client)
    if transport is not None:
        return BorrowedTransport(transport)
    return default_transport(backend, max_concurrency, url, trust_env=trust_env)


@attrs.frozen(kw_only=True)
class Stack:
    """The layers of one client, innermost first; ``retry`` is the outermost."""

    reader: ReadTransport
    auth: AuthTransport
    pacer: RateLimitTransport
    retry: RetryTransport


def build_stack(
    under: httpx.AsyncBaseTransport,
    *,
    api_key: Secret,
    base_url: httpx.URL,
    timeout: httpx.Timeout,
    clock: Clock,
    policy: RetryPolicy,
    rate_limit: float | None,
    max_concurrency: int,
    shared: RedisCoordination | None,
    hooks: Mapping[str, Sequence[Callable[..., Any]]],
    telemetry: Telemetry | None,
) -> Stack:
    """Read, attempt, auth, pacing and retry layers over ``under``, on the one ``clock``."""
    reader = ReadTransport(under, deadline=exchange_deadline(timeout))
    attempts = AttemptLayer(reader, hooks=hooks, telemetry=telemetry)
    auth = AuthTransport(
        attempts,
        api_key,
        login_url=str(base_url.join("auth/login")),
        refresh_url=str(base_url.join("auth/refresh")),
        clock=clock.time,
        shared=shared,
    )
    pacer = RateLimitTransport(
        auth,
        rate=rate_limit,
        max_concurrency=max_concurrency,
        clock=clock.monotonic,
        sleep=clock.sleep,
        shared=shared,
        max_pause=policy.max_retry_after,
    )
    retry = RetryTransport(
        pacer, policy, sleep=clock.sleep, jitter=clock.jitter, clock=clock.monotonic
    )
    return Stack(reader=reader, auth=auth, pacer=pacer, retry=retry)


def request_builder(
    base_url: httpx.URL, outermost: httpx.AsyncBaseTransport, timeout: httpx.Timeout
) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` that builds each request and sends it down the layers."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=outermost,
        timeout=timeout,
        headers={
            "Accept": "application/json",
            # Decoded (and capped) by the read layer; nothing else is asked for.
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": f"bsg-async/{__version__}",
        },
        # Environment proxies and certificates are applied by the innermost
        # transport; this client only builds requests.
        trust_env=False,
    )


# A path of these characters needs no quoting (ids and fixed words).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_.~-]*")


def _text(value: str | float | bool | None) -> str:
    """A query value as httpx writes it (true/false, empty for None)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


# Characters a query value can hold; httpx 0.27 writes a space as %20, 0.28 as +.
_PROBE: list[tuple[str, str | float | bool | None]] = [
    ("q", " +&=/~*'()!,;:@$%#?ü"),
    ("t", True),
    ("n", None),
    ("f", 1.5),
]


@functools.cache
def _query_quoting() -> Callable[..., str] | None:
    """The quoting that makes ``urlencode`` write queries as the installed httpx does.

    None: neither of the two. Probed once per process (about 100 µs).
    """
    expected = httpx.Request("GET", "http://h/p", params=_PROBE).url.query.decode("ascii")
    pairs = [(name, _text(value)) for name, value in _PROBE]
    for quote in (urllib.parse.quote_plus, urllib.parse.quote):
        if urllib.parse.urlencode(pairs, quote_via=quote) == expected:
            return quote
    return None


class RequestMaker:
    """Builds each request from a template prepared once per client.

    ``httpx.AsyncClient.build_request`` merges the base URL, headers, cookies
    and parameters anew on every call (about 40 µs, 70 with parameters, two
    URL parses); this makes the same request from the parsed base URL and the
    client's header list (about 10 µs). ``tests/test_client.py`` checks that
    both build the same requests.
    """

    __slots__ = ("_base", "_builder", "_headers", "_path", "_prefix", "_quote")

    def __init__(self, builder: httpx.AsyncClient) -> None:
        self._builder = builder
        self._quote = _query_quoting()
        prefix = str(builder.base_url)
        self._prefix = prefix if prefix.endswith("/") else prefix + "/"
        self._headers = builder.headers
        base = httpx.URL(self._prefix)
        self._path = base.raw_path.decode("ascii").partition("?")[0]
        # httpx keeps a parsed URL as a named tuple of its parts; replacing the
        # path and query of the base URL's skips parsing it again (8 µs).
        # Private to httpx, so used only when it gives what parsing gives.
        self._base = base if self._same(base, "contacts/1", "a=1") else None

    def _same(self, base: httpx.URL, path: str, query: str) -> bool:
        try:
            quick = self._join(base, path, query)
        except (AttributeError, TypeError, ValueError):
            return False
        return quick == httpx.URL(f"{self._prefix}{path}?{query}")

    def _join(self, base: httpx.URL, path: str, query: str | None) -> httpx.URL:
        url = httpx.URL.__new__(httpx.URL)
        url._uri_reference = base._uri_reference._replace(path=self._path + path, query=query)  # noqa: SLF001
        return url

    def build(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str | float | bool | None]] | None = None,
        json: object = None,
    ) -> httpx.Request:
        """The request for ``path`` (relative to the base URL) with ``params`` and a JSON body."""
        path = path.lstrip("/")
        if params and self._quote is None:  # an httpx whose query encoding we do not know
            return self._builder.build_request(method, path, params=list(params), json=json)
        query = (
            urllib.parse.urlencode(
                [(name, _text(value)) for name, value in params], quote_via=self._quote
            )
            if params and self._quote is not None
            else None
        )
        if self._base is not None and _PLAIN_PATH.fullmatch(path):
            url = self._join(self._base, path, query)
        else:
            url = httpx.URL(self._prefix + path + ("" if query is None else "?" + query))
        return httpx.Request(method, url, headers=self._headers, json=json)
