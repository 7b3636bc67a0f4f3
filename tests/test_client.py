"""The Client: construction, lifecycle, error mapping at the edge, secrets."""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
import traceback

import anyio
import httpx
import pytest
import respx

import bsg_async
from bsg_async._transports import RequestMaker, environment_proxy, request_builder, tls_context
from tests.helpers import BASE, KEY, FakeClock, contact_json, make_jwt, mocked_client

pytestmark = pytest.mark.anyio


def test_public_names_are_sorted_and_importable() -> None:
    """__all__ is sorted and every name in it exists."""
    assert sorted(bsg_async.__all__) == bsg_async.__all__
    for name in bsg_async.__all__:
        assert hasattr(bsg_async, name)


def test_import_loads_neither_testing_nor_cli() -> None:
    """`import bsg_async` in a fresh interpreter loads no emulator, CLI or server code."""
    code = (
        "import sys, bsg_async; "
        "print(sorted(m for m in sys.modules if m.startswith(('bsg_async.testing', "
        "'bsg_async.cli', 'bsg_async._pydantic', 'pydantic', 'uvicorn', 'respx'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "[]" == out.stdout.strip()


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/contacts/7", None, None),
        ("GET", "/contacts", [("page[limit]", 500), ("page[offset]", 0)], None),
        ("GET", "/contacts", [("groups[]", 1), ("groups[]", 2), ("hlr", True), ("x", None)], None),
        ("GET", "/stop-list", [("phone", "+380 (67) 1&2=3"), ("flag", False), ("r", 1.5)], None),
        ("POST", "/contacts", None, {"phone": "380671234567", "fields": {"1": "Ann ü"}}),
        ("PUT", "contacts/fields/3", None, {"name": "x"}),
        ("DELETE", "/groups/9", None, None),
        ("GET", "/contacts/a b/ü", [("q", "ü")], None),
    ],
)
@pytest.mark.parametrize("base", ["http://127.0.0.1:8080/api", "https://one-api.bsg.world/api/"])
def test_prepared_requests_match_httpx_build_request(
    method: str,
    path: str,
    params: list[tuple[str, object]] | None,
    body: object,
    base: str,
) -> None:
    """The prepared template builds byte for byte what httpx's build_request builds."""
    builder = request_builder(
        httpx.URL(base), httpx.MockTransport(lambda _: httpx.Response(200)), httpx.Timeout(5.0)
    )
    made = RequestMaker(builder).build(method, path, params=params, json=body)  # type: ignore[arg-type]
    expected = builder.build_request(method, path.lstrip("/"), params=params, json=body)  # type: ignore[arg-type]
    assert (made.method, str(made.url)) == (expected.method, str(expected.url))
    assert made.headers.multi_items() == expected.headers.multi_items()
    assert made.read() == expected.read()


def test_tls_context_loads_certificates_only_for_https() -> None:
    """A plain-http client loads no CA bundle (it never uses TLS); https ones share a context."""
    plain = tls_context(httpx.URL("http://127.0.0.1:8080/api"), None, trust_env=False)
    assert (plain.verify_mode, plain.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert plain.cert_store_stats()["x509_ca"] == 0  # trusts nothing: fails closed
    first = tls_context(httpx.URL("https://one-api.bsg.world/api"), None, trust_env=False)
    second = tls_context(httpx.URL("https://other.example/api"), None, trust_env=False)
    assert first is second
    assert (first.verify_mode, first.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert first.cert_store_stats()["x509_ca"] > 0
    proxied = tls_context(
        httpx.URL("http://127.0.0.1:8080/api"), httpx.Proxy("https://proxy:3128"), trust_env=False
    )
    assert proxied is first  # an https proxy is a TLS connection


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No argument and no BSG_API_KEY: InvalidRequestError naming both ways."""
    monkeypatch.delenv("BSG_API_KEY", raising=False)
    with pytest.raises(bsg_async.InvalidRequestError, match="BSG_API_KEY"):
        bsg_async.Client()


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """api_key and base_url fall back to BSG_API_KEY and BSG_BASE_URL."""
    monkeypatch.setenv("BSG_API_KEY", KEY)
    monkeypatch.setenv("BSG_BASE_URL", "http://127.0.0.1:9999/api")
    client = bsg_async.Client()
    assert "http://127.0.0.1:9999/api/" == str(client.base_url)
    assert "Client(base_url='http://127.0.0.1:9999/api/', api_key=<redacted>)" == repr(client)


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without BSG_BASE_URL the client talks to BSG over https."""
    monkeypatch.delenv("BSG_BASE_URL", raising=False)
    assert f"{BASE}/" == str(bsg_async.Client(KEY).base_url)


def test_plain_http_to_remote_host_warns() -> None:
    """Sending the key over http to a non-loopback host warns; loopback does not."""
    with pytest.warns(bsg_async.InsecureTransportWarning, match="unencrypted") as caught:
        bsg_async.Client(KEY, base_url="http://one-api.bsg.world/api")
    # The warning points at the line that made the client.
    assert [__file__] == [warning.filename for warning in caught]
    for host in ("127.0.0.1", "localhost", "[::1]"):
        bsg_async.Client(KEY, base_url=f"http://{host}:8000/api")


@pytest.mark.parametrize(
    "options",
    [
        {"max_retries": -1},
        {"retry_backoff": -0.1},
        {"rate_limit": 0},
        {"max_concurrency": 0},
        {"base_url": "ftp://x/api"},
        {
            "http_client": httpx.AsyncClient(),
            "transport": httpx.MockTransport(lambda _: httpx.Response(200)),
        },
    ],
)
def test_bad_options(options: dict[str, object]) -> None:
    """Out-of-range options fail at construction."""
    with pytest.raises(bsg_async.InvalidRequestError):
        bsg_async.Client(KEY, **options)  # type: ignore[arg-type]


async def test_http_client_and_transport_exclude_each_other() -> None:
    """Both an http_client and a transport is ambiguous: refused."""
    async with httpx.AsyncClient() as mine:
        with pytest.raises(bsg_async.InvalidRequestError, match="not both"):
            bsg_async.Client(KEY, http_client=mine, transport=httpx.AsyncHTTPTransport())


async def test_backend_with_lent_transport_is_refused() -> None:
    """http_backend with a lent transport would be silently ignored: refused instead."""
    with pytest.raises(bsg_async.InvalidRequestError, match="http_backend"):
        bsg_async.Client(KEY, http_backend="aiohttp", transport=httpx.AsyncHTTPTransport())


async def test_key_never_in_repr_errors_or_logs(
    api: respx.MockRouter, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, through a 401 re-login and a failure, neither key nor token leaks."""
    token = make_jwt(clock.now + 3600)
    api["login"].respond(200, json={"bearer": token})
    api.get("/contacts/1").mock(
        side_effect=[
            httpx.Response(401, json={"message": "Unauthenticated."}),
            httpx.Response(500, json={"message": "Server Error"}),
            httpx.Response(500, json={"message": "Server Error"}),
        ]
    )
    caplog.set_level(logging.DEBUG)
    async with mocked_client(clock=clock, max_retries=1) as client:
        with pytest.raises(bsg_async.ServerError) as info:
            await client.contacts.get(1)
        texts = [
            repr(client),
            str(client),
            str(info.value),
            repr(info.value),
            "".join(traceback.format_exception(info.value)),
            repr(info.value.response),
            repr(info.value.response.request),
            repr(info.value.response.request.headers),
            caplog.text,
            repr(vars(client)),
        ]
    assert "GET /api/contacts/1 -> 500" in caplog.text
    for text in texts:
        assert KEY not in text
        assert token not in text


async def test_html_502_is_a_typed_error(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """A proxy's HTML 502 becomes ServerError describing the body, not a JSON crash."""
    api.get("/contacts/1").respond(
        502, text="<html><h1>502 Bad Gateway</h1></html>", headers={"content-type": "text/html"}
    )
    with pytest.raises(bsg_async.ServerError) as info:
        await client.contacts.get(1)
    assert 502 == info.value.status_code
    assert "502 Bad Gateway" in info.value.message
    assert "text/html" in info.value.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<html>maintenance</html>", "non-JSON body"),
        (b'{"data": {"id": 1, "pho', "non-JSON body"),
        (b"", "answered an empty body"),
        (b'{"data": {"id": 1, "phone": "letters"}}', "$.data.phone"),
        (b'{"message": "ok"}', "expected a JSON object with a 'data' key"),
    ],
)
async def test_bad_success_bodies_are_decode_errors(
    client: bsg_async.Client, api: respx.MockRouter, content: bytes, expected: str
) -> None:
    """A 200 whose body is not the documented JSON is DecodeError saying what was wrong."""
    api.get("/contacts/1").respond(200, content=content)
    with pytest.raises(bsg_async.DecodeError) as info:
        await client.contacts.get(1)
    assert expected in info.value.message
    assert 200 == info.value.status_code


async def test_unknown_status_is_api_status_error(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A 409 (undocumented) is the base APIStatusError with the API's message."""
    api.get("/contacts/1").respond(409, json={"message": "Conflict"})
    with pytest.raises(bsg_async.APIStatusError) as info:
        await client.contacts.get(1)
    assert (409, "Conflict") == (info.value.status_code, info.value.message)
    assert type(info.value) is bsg_async.APIStatusError


async def test_rate_limit_error_carries_retry_after(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """A final 429 is RateLimitError with retry_after from the header."""
    api.get("/contacts/1").respond(
        429, headers={"Retry-After": "3"}, json={"message": "Too Many Attempts."}
    )
    async with mocked_client(clock=clock, max_retries=0) as client:
        with pytest.raises(bsg_async.RateLimitError) as info:
            await client.contacts.get(1)
    assert 3.0 == info.value.retry_after


async def test_lent_transport_is_not_closed() -> None:
    """A transport passed in is used but left open by aclose()."""
    closed: list[bool] = []

    class Lent(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/auth/login"):
                return httpx.Response(200, json={"bearer": "opaque-token"})
            return httpx.Response(200, json={"data": contact_json(4)})

        async def aclose(self) -> None:
            closed.append(True)

    async with bsg_async.Client(KEY, transport=Lent()) as client:
        assert 4 == (await client.contacts.get(4)).id
    assert [] == closed
    assert client.is_closed


@pytest.mark.parametrize(
    ("timeout", "phases", "deadline"),
    [
        (12, httpx.Timeout(12.0), 12.0),
        (httpx.Timeout(5.0, connect=2.0), httpx.Timeout(5.0, connect=2.0), 5.0),
        (httpx.Timeout(None, read=40.0), httpx.Timeout(None, read=40.0), 40.0),
        (None, httpx.Timeout(None), None),
    ],
)
def test_timeout_keeps_the_whole_exchange_deadline(
    timeout: float | httpx.Timeout | None, phases: httpx.Timeout, deadline: float | None
) -> None:
    """A number or an httpx.Timeout: phase limits as given, the exchange bound by the longest."""
    client = bsg_async.Client(KEY, timeout=timeout)
    assert (phases, deadline) == (client.timeout, client._core.stack.reader.deadline)


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": "5"},
        {"timeout": float("inf")},
        {"max_retries": -1},
        {"max_retries": True},
        {"total_timeout": 0},
        {"total_timeout": float("nan")},
        {"total_timeout": "1"},
    ],
)
def test_with_options_checks_like_the_constructor(options: dict[str, object]) -> None:
    """Out-of-range per-call options fail before anything is sent, in both places."""
    client = bsg_async.Client(KEY)
    with pytest.raises(bsg_async.InvalidRequestError):
        client.with_options(**options)  # type: ignore[arg-type]
    with pytest.raises(bsg_async.InvalidRequestError):
        bsg_async.Client(KEY, **options)  # type: ignore[arg-type]


def test_with_options_returns_a_view_and_leaves_the_client() -> None:
    """A view changes what it is given; the client and its other options stay."""
    client = bsg_async.Client(KEY, max_retries=5, total_timeout=60)
    view = client.with_options(timeout=2)
    assert (httpx.Timeout(2.0), 5, 60.0) == (view.timeout, view.max_retries, view.total_timeout)
    assert (httpx.Timeout(30.0), 5, 60.0) == (
        client.timeout,
        client.max_retries,
        client.total_timeout,
    )
    assert view.with_options(total_timeout=None).total_timeout is None
    assert view._core.http is client._core.http
    assert view._core.stack.auth is client._core.stack.auth
    assert view._core.stack.pacer is client._core.stack.pacer


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({}, "https://one-api.bsg.world/api/", None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://one-api.bsg.world/api/", "proxy:3128"),
        ({"HTTPS_PROXY": "proxy:3128"}, "https://one-api.bsg.world/api/", "proxy:3128"),
        ({"HTTP_PROXY": "http://proxy:3128"}, "https://one-api.bsg.world/api/", None),
        ({"ALL_PROXY": "http://all:8080"}, "https://one-api.bsg.world/api/", "all:8080"),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "bsg.world"},
            "https://one-api.bsg.world/api/",
            None,
        ),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "other.example"},
            "https://one-api.bsg.world/api/",
            "proxy:3128",
        ),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "*"}, "http://127.0.0.1:80/api/", None),
    ],
)
def test_environment_proxy(
    environment: dict[str, str],
    url: str,
    expected: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The proxy for the API host, read from the environment as httpx reads it."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    proxy = environment_proxy(httpx.URL(url))
    assert expected == (None if proxy is None else f"{proxy.url.host}:{proxy.url.port}")


@pytest.mark.parametrize(("loop", "expected"), [("asyncio", "aiohttp"), ("trio", "httpx")])
def test_auto_backend_is_chosen_on_the_loop_of_the_first_request(loop: str, expected: str) -> None:
    """Made outside any loop, the client picks aiohttp on asyncio and httpcore on trio."""
    from bsg_async._transports import AutoTransport  # noqa: PLC0415
    from bsg_async.testing import DEFAULT_KEY, FakeBSG  # noqa: PLC0415

    fake = FakeBSG(seed_contacts=1)
    with fake.serve() as served:
        client = bsg_async.Client(DEFAULT_KEY, base_url=served.base_url, trust_env=False)
        auto = client._core.stack.reader._transport
        assert isinstance(auto, AutoTransport)
        assert "" == auto.chosen  # nothing built before the first request

        async def first() -> int:
            async with client:
                return (await client.contacts.get(min(fake.contacts))).id

        assert min(fake.contacts) == anyio.run(first, backend=loop)
        assert expected == auto.chosen
