"""The paths real users take, over real loopback sockets, on asyncio and trio.

Each ``Client`` option and each layer path runs here against the served
emulator: our own transport, a lent ``httpx.AsyncClient``, a lent transport,
the aiohttp backend, an HTTP proxy from the environment, tokens expiring while
requests wait for the rate limit or behind a shared ``Retry-After`` pause, the
per-call budget, ``with_options`` views and BSG's duplicate-request 429.
"""

from __future__ import annotations

import functools
import socket
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG, Faults
from tests.helpers import backends_on, make_jwt, raw_server
from tests.proxy import ForwardProxy

pytestmark = pytest.mark.anyio

INNERMOST = ["owned", "lent_client", "lent_transport"]
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class SteadyClock(bsg_async.Clock):
    """Real time, but retry delays without jitter, so their count is exact."""

    def jitter(self) -> float:
        return 1.0


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=60, seed=3).serve() as running:
        yield running


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from an environment that names no proxy."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@asynccontextmanager
async def connect(
    how: str, server: EmulatorServer, **options: Any
) -> AsyncIterator[bsg_async.Client]:
    """A client for ``server`` whose innermost layer is ``how``."""
    options.setdefault("retry_backoff", 0.0)
    if how == "owned":
        async with bsg_async.Client(DEFAULT_KEY, base_url=server.base_url, **options) as client:
            yield client
    elif how == "lent_client":
        async with httpx.AsyncClient(trust_env=False) as lent:
            async with bsg_async.Client(
                DEFAULT_KEY, base_url=server.base_url, http_client=lent, **options
            ) as client:
                yield client
            # Ours closed, the lender's still works.
            assert not lent.is_closed
            assert 401 == (await lent.get(f"{server.base_url}/contacts")).status_code
    else:
        lent_transport = httpx.AsyncHTTPTransport()
        try:
            async with bsg_async.Client(
                DEFAULT_KEY, base_url=server.base_url, transport=lent_transport, **options
            ) as client:
                yield client
        finally:
            await lent_transport.aclose()


def requests_seen(fake: FakeBSG) -> int:
    return sum(count for name, count in fake.stats.items() if name.startswith("route:"))


async def tour(client: bsg_async.Client, fake: FakeBSG) -> None:
    """Reads, writes, a walk and a token the server expires, with exact results."""
    first = min(fake.contacts)
    assert first == (await client.contacts.get(first)).id
    created = await client.contacts.create(phone=61401629754, fields=None)
    assert 61401629754 == created.phone
    updated = await client.contacts.update(created.id, phone=61401629755)
    assert 61401629755 == updated.phone
    assert sorted(fake.contacts) == sorted([c.id async for c in client.contacts.list(page_size=15)])
    fake.advance(fake.token_ttl + 1)  # the server expires the token: 401, login, replay
    assert first == (await client.contacts.get(first)).id
    await client.contacts.delete(created.id)
    assert created.id not in fake.contacts
    assert (2, 1) == (fake.stats["logins"], fake.stats["status:401"])


@pytest.mark.parametrize("how", INNERMOST)
async def test_each_innermost_layer_serves_the_tour(how: str, served: EmulatorServer) -> None:
    """Own transport, lent client and lent transport: the same results over a socket."""
    with anyio.fail_after(10):  # a lent client used to hang here until its timeout
        async with connect(how, served) as client:
            await tour(client, served.fake)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_backend_serves_the_tour(served: EmulatorServer) -> None:
    """http_backend="aiohttp" (asyncio only) over a socket: the same results."""
    async with bsg_async.Client(
        DEFAULT_KEY, base_url=served.base_url, http_backend="aiohttp"
    ) as client:
        await tour(client, served.fake)


@pytest.mark.parametrize("how", INNERMOST)
async def test_whole_exchange_deadline_applies_to_every_innermost(
    how: str, served: EmulatorServer
) -> None:
    """An answer slower than the timeout ends in APITimeoutError at the timeout, any layer."""
    fake = served.fake
    async with connect(how, served, timeout=0.3, max_retries=0) as client:
        await client.contacts.get(min(fake.contacts))  # logged in before the faults
        fake.faults = Faults(slow=1.0, slow_seconds=2.0)
        started = time.monotonic()
        with pytest.raises(bsg_async.APITimeoutError, match=r"within 0\.3 s"):
            await client.contacts.get(min(fake.contacts))
        assert time.monotonic() - started < 1.5
        fake.faults = Faults()


async def test_lent_client_keeps_its_own_settings(served: EmulatorServer) -> None:
    """The lender's event hooks see every request, logins included."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    async with (
        httpx.AsyncClient(trust_env=False, event_hooks={"request": [hook]}) as lent,
        bsg_async.Client(DEFAULT_KEY, base_url=served.base_url, http_client=lent) as client,
    ):
        await client.contacts.get(min(served.fake.contacts))
    assert ["POST /api/auth/login", f"GET /api/contacts/{min(served.fake.contacts)}"] == seen


# --------------------------------------------------------------------- proxies


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_proxy_from_the_environment_relays_every_request(
    variable: str, served: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a proxy named in the environment, every request (login too) goes through it."""
    fake = served.fake
    with ForwardProxy() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url) as client:
            first = min(fake.contacts)
            await client.contacts.get(first)
            assert 60 == len(await client.contacts.list(page_size=30).collect())
    assert [
        f"POST {served.base_url}/auth/login",
        f"GET {served.base_url}/contacts/{first}",
        f"GET {served.base_url}/contacts?page%5Blimit%5D=30&page%5Boffset%5D=0",
        f"GET {served.base_url}/contacts?page%5Blimit%5D=30&page%5Boffset%5D=30",
    ] == proxy.relayed
    assert 4 == requests_seen(fake)


@pytest.mark.parametrize(
    ("options", "no_proxy"), [({"trust_env": False}, None), ({}, "localhost,127.0.0.1")]
)
async def test_proxy_is_bypassed_by_trust_env_false_and_no_proxy(
    options: dict[str, Any],
    no_proxy: str | None,
    served: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Client(trust_env=False) or NO_PROXY covering the host: straight to the server."""
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        if no_proxy is not None:
            monkeypatch.setenv("NO_PROXY", no_proxy)
        async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url, **options) as client:
            await client.contacts.get(min(served.fake.contacts))
    assert [] == proxy.relayed
    assert 2 == requests_seen(served.fake)


# ---------------------------------------------------------------- token waits


async def test_token_expiring_while_requests_wait_for_the_rate_limit() -> None:
    """0.8 s tokens, 40 gets at rate_limit=25 from 16 tasks: no stale token reaches the server."""
    fake = FakeBSG(seed_contacts=40, token_ttl=0.8)
    with fake.serve() as server:
        started = time.monotonic()
        async with bsg_async.Client(
            DEFAULT_KEY, base_url=server.base_url, rate_limit=25, max_concurrency=16
        ) as client:
            ids = sorted(fake.contacts)
            got = [c.id async for c in client.contacts.get_many(ids, concurrency=16)]
        elapsed = time.monotonic() - started
    assert ids == got
    assert 0 == fake.stats["expired_tokens"]
    assert 1 == fake.stats["logins"]
    assert fake.stats["logins"] + fake.stats["refreshes"] <= elapsed / 0.8 + 2


async def test_token_expiring_behind_a_shared_retry_after_pause() -> None:
    """A 429 with Retry-After longer than the token's life: every request gets a fresh token."""
    fake = FakeBSG(seed_contacts=30, token_ttl=1.0)
    with fake.serve() as server:
        started = time.monotonic()
        async with bsg_async.Client(
            DEFAULT_KEY, base_url=server.base_url, max_concurrency=10
        ) as client:
            ids = sorted(fake.contacts)
            await client.contacts.get(ids[0])
            fake.throttle(1.2)
            got = [c.id async for c in client.contacts.get_many(ids, concurrency=10)]
        elapsed = time.monotonic() - started
    assert ids == got
    assert elapsed >= 1.2
    assert (1, 0) == (fake.stats["throttled"], fake.stats["expired_tokens"])
    assert fake.stats["logins"] + fake.stats["refreshes"] <= elapsed / 1.0 + 2


# ---------------------------------------------------------------- the budget


async def test_retry_after_longer_than_the_budget_raises_at_once(served: EmulatorServer) -> None:
    """Retry-After: 5 with 2 s left: RateLimitError with retry_after, without sleeping."""
    async with connect("owned", served, total_timeout=2.0) as client:
        await client.contacts.get(min(served.fake.contacts))
        served.fake.throttle(5)
        started = time.monotonic()
        with pytest.raises(bsg_async.RateLimitError, match="total_timeout") as info:
            await client.contacts.get(min(served.fake.contacts))
    assert time.monotonic() - started < 1.0
    assert (5.0, 0, False) == (
        info.value.retry_after,
        info.value.retries_taken,
        info.value.duplicate,
    )


async def test_budget_ends_retries_mid_way(served: EmulatorServer) -> None:
    """Backoff 0.3 s, 0.6 s, then 1.2 s would pass a 1 s budget: two retries, then the error."""
    fake = served.fake
    async with connect(
        "owned",
        served,
        total_timeout=1.0,
        max_retries=20,
        retry_backoff=0.3,
        clock=SteadyClock(),
    ) as client:
        await client.contacts.get(min(fake.contacts))
        fake.faults = Faults(error_500=1.0)
        started = time.monotonic()
        with pytest.raises(bsg_async.ServerError) as info:
            await client.contacts.get(min(fake.contacts))
    assert time.monotonic() - started < 1.2
    assert 2 == info.value.retries_taken
    assert 1 + 3 == fake.stats["route:contact_get"]


async def test_shared_pause_past_the_budget_is_not_waited(served: EmulatorServer) -> None:
    """Another call's Retry-After: 3 pauses the client; a 1 s call is refused unsent."""
    fake = served.fake
    async with connect("owned", served, total_timeout=1.0, max_retries=0) as client:
        first = min(fake.contacts)
        await client.contacts.get(first)
        fake.throttle(3)
        with pytest.raises(bsg_async.RateLimitError):
            await client.contacts.get(first)
        seen = requests_seen(fake)
        started = time.monotonic()
        with pytest.raises(bsg_async.RateLimitError, match="not sent") as info:
            await client.contacts.get(first)
    assert time.monotonic() - started < 0.5
    assert 3.0 == info.value.retry_after
    assert seen == requests_seen(fake)


async def test_wait_in_line_ends_within_the_budget(served: EmulatorServer) -> None:
    """One slot held by a slow answer: a call with 0.4 s of budget ends at 0.4 s."""
    fake = served.fake
    async with connect("owned", served, max_concurrency=1) as client:
        first = min(fake.contacts)
        await client.contacts.get(first)
        fake.faults = Faults(slow=1.0, slow_seconds=1.5)
        hurried = client.with_options(total_timeout=0.4)
        outcome: list[object] = []

        async def slow_call() -> None:
            outcome.append((await client.contacts.get(first)).id)

        async with anyio.create_task_group() as group:
            group.start_soon(slow_call)
            await anyio.wait_all_tasks_blocked()
            started = time.monotonic()
            with pytest.raises(bsg_async.APITimeoutError, match=r"total_timeout of 0\.4 s"):
                await hurried.contacts.get(first)
            waited = time.monotonic() - started
    assert 0.35 < waited < 1.0
    assert [first] == outcome


# ------------------------------------------------------------- with_options


async def test_with_options_shares_the_token_and_changes_only_the_call(
    served: EmulatorServer,
) -> None:
    """A view with max_retries=0 sends once; the client still retries; one login for both."""
    fake = served.fake
    async with connect("owned", served, max_retries=3) as client:
        first = min(fake.contacts)
        await client.contacts.get(first)
        view = client.with_options(max_retries=0, timeout=2)
        assert (0, 3, httpx.Timeout(2.0)) == (view.max_retries, client.max_retries, view.timeout)
        fake.faults = Faults(error_500=1.0)
        with pytest.raises(bsg_async.ServerError) as once:
            await view.contacts.get(first)
        with pytest.raises(bsg_async.ServerError) as retried:
            await client.contacts.get(first)
        fake.faults = Faults()
        assert first == (await view.contacts.get(first)).id
        await view.aclose()  # a view owns nothing
        assert first == (await client.contacts.get(first)).id
    assert (0, 3) == (once.value.retries_taken, retried.value.retries_taken)
    assert 1 == fake.stats["logins"]
    assert 1 + 1 + 4 + 1 + 1 == fake.stats["route:contact_get"]


# ------------------------------------------------------ duplicate-request 429


async def test_duplicate_list_create_is_not_sent_again(served: EmulatorServer) -> None:
    """The same list created twice within a second: 429, refused as a duplicate, no resend."""
    fake = served.fake
    async with connect("owned", served) as client:
        await client.lists.create(name="Weekly")
        with pytest.raises(bsg_async.RateLimitError, match="duplicate") as info:
            await client.lists.create(name="Weekly")
    assert (True, True, None) == (
        info.value.duplicate,
        info.value.may_have_been_applied,
        info.value.retry_after,
    )
    assert 2 == fake.stats["route:group_create"]
    assert ["Seeded 60", "Weekly"] == [group["name"] for group in fake.groups.values()]


async def test_a_phone_already_in_the_book_is_never_this_calls_contact(
    served: EmulatorServer,
) -> None:
    """The same phone created again: a duplicate 429 within a second, 422 later; never a Contact."""
    fake = served.fake
    async with connect("owned", served) as client:
        first = await client.contacts.create(phone=61401629754)
        with pytest.raises(bsg_async.RateLimitError) as soon:
            await client.contacts.create(phone=61401629754)
        fake.advance(2.0)  # past the duplicate window
        with pytest.raises(bsg_async.UnprocessableEntityError, match="already exist"):
            await client.contacts.create(phone=61401629754)
    assert soon.value.duplicate
    assert [first.id] == [c["id"] for c in fake.contacts.values() if c["phone"] == first.phone]
    assert 3 == fake.stats["route:contact_create"]
    assert 0 == fake.stats["route:contacts_search"]


async def test_create_throttled_with_retry_after_is_sent_again(served: EmulatorServer) -> None:
    """A 429 with Retry-After is a real rate limit: the create waits and is sent again."""
    fake = served.fake
    async with connect("owned", served) as client:
        await client.contacts.get(min(fake.contacts))
        fake.throttle(0.1)
        created = await client.contacts.create(phone=61401629754)
    assert created.id in fake.contacts
    assert 2 == fake.stats["route:contact_create"]


async def test_idempotent_post_keeps_retrying_after_a_duplicate_429(
    served: EmulatorServer,
) -> None:
    """Adding the same phones to the stop list twice: the second is retried until it passes."""
    fake = served.fake
    async with connect("owned", served, retry_backoff=1.1, clock=SteadyClock()) as client:
        await client.stoplist.add([61401629754])
        entries = await client.stoplist.add([61401629754])
    assert [61401629754] == [entry.phone for entry in entries]
    assert 3 == fake.stats["route:stoplist_attach"]
    assert 1 == fake.stats["duplicates_detected"]


# ------------------------------------------------------ multi-criteria search


async def test_search_with_several_conditions(served: EmulatorServer) -> None:
    """where=[...] sends search_fields[N][...]; only rows meeting every condition come back."""
    fake = served.fake
    ids = sorted(fake.contacts)
    async with connect("owned", served) as client:
        found = await client.contacts.search(
            where=[("id", ">", ids[9]), ("id", "<=", ids[14])], page_size=15
        ).collect()
        one = await client.contacts.search(field="id", operator="=", value=ids[3]).collect()
    assert ids[10:15] == [contact.id for contact in found]
    assert [ids[3]] == [contact.id for contact in one]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "needs field, operator and value"),
        ({"field": "id", "operator": "="}, "needs field, operator and value"),
        ({"field": "id", "operator": "=", "value": 1, "where": [("id", "=", 1)]}, "not both"),
        ({"where": []}, "at least one"),
        ({"where": "id=1"}, "must be a list"),
        ({"where": [("id", "=")]}, r"where\[0\] must be"),
        ({"where": [("id", "~", 1)]}, "operator must be one of"),
        ({"where": [("name", "=", 1)]}, "field must be one of"),
    ],
)
def test_search_conditions_are_checked_before_sending(
    arguments: dict[str, Any], message: str
) -> None:
    """A malformed search fails with InvalidRequestError at the call, nothing sent."""
    client = bsg_async.Client(
        DEFAULT_KEY, transport=httpx.MockTransport(lambda _: httpx.Response(500))
    )
    with pytest.raises(bsg_async.InvalidRequestError, match=message):
        client.contacts.search(**arguments)


# ------------------------------------------------------------------- phones


async def test_phones_as_people_write_them_work_everywhere(served: EmulatorServer) -> None:
    """ "+61 401 629 754", "+61-401-629-755" and "(61) 401629756" are read as the API's integers."""
    fake = served.fake
    async with connect("owned", served) as client:
        created = await client.contacts.create(phone="+61 401 629 754")
        found = await client.contacts.find_by_phone("+61401629754")
        searched = await client.contacts.search(
            field="phone", operator="=", value="+61 (401) 629-754"
        ).collect()
        updated = await client.contacts.update(created.id, phone="+61-401-629-755")
        many = [
            c.phone
            async for c in client.contacts.create_many(
                [bsg_async.NewContact(phone="(61) 401629756"), {"phone": "+61.401.629.757"}]
            )
        ]
        entries = await client.stoplist.add(["+61 401 629 758"])
        with pytest.raises(bsg_async.InvalidRequestError, match="international form"):
            await client.stoplist.add(["0401 629 758"])
    assert 61401629754 == created.phone
    assert found is not None
    assert created.id == found.id
    assert [created.id] == [c.id for c in searched]
    assert 61401629755 == updated.phone
    assert [61401629756, 61401629757] == many
    assert [61401629758] == [e.phone for e in entries]
    assert 61401629755 == fake.contacts[created.id]["phone"]


@pytest.mark.parametrize(
    ("written", "number"),
    [
        (61401629754, 61401629754),
        ("61401629754", 61401629754),
        ("+61401629754", 61401629754),
        (" +61 401 629 754 ", 61401629754),
        ("+1 (212) 555-0100", 12125550100),
        ("380.50.123.45.67", 380501234567),
    ],
)
def test_parse_phone(written: int | str, number: int) -> None:
    """The one reading of a phone that every call uses."""
    assert number == bsg_async.parse_phone(written)


# ---------------------------------------------------- errors that say what to do


async def test_base_url_without_api_says_the_url_looks_wrong(served: EmulatorServer) -> None:
    """A base URL missing /api: the error names the URL tried, and blames the URL, not the key."""
    root = served.base_url.removesuffix("/api")
    async with bsg_async.Client(DEFAULT_KEY, base_url=root, retry_backoff=0) as client:
        with pytest.raises(bsg_async.NotFoundError) as info:
            await client.contacts.get(1)
    message = str(info.value)
    assert "the base URL looks wrong" in message
    assert f"{root}/auth/login" in message
    assert "rejected" not in message
    assert not isinstance(info.value, bsg_async.AuthenticationError)


async def test_wrong_key_is_the_only_rejected_key(served: EmulatorServer) -> None:
    """The API's own "Invalid api key" answer: AuthenticationError saying the key was rejected."""
    async with bsg_async.Client("live_not_this_one", base_url=served.base_url) as client:
        with pytest.raises(
            bsg_async.AuthenticationError, match="rejected at login: Invalid api key"
        ):
            await client.contacts.get(1)


async def test_connection_failure_names_host_and_port_and_counts_retries(
    anyio_backend: str,
) -> None:
    """Nothing listens: the error says where it tried, and how many retries the login took."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}/api"
    for backend in backends_on(anyio_backend):
        async with bsg_async.Client(
            DEFAULT_KEY, base_url=base, max_retries=2, retry_backoff=0, http_backend=backend
        ) as client:
            with pytest.raises(bsg_async.APIConnectionError) as info:
                await client.contacts.get(1)
        assert not isinstance(info.value, bsg_async.APITimeoutError), backend
        assert f"to 127.0.0.1:{port} failed: ConnectError" in str(info.value), backend
        assert 2 == info.value.retries_taken, backend


async def _answer_login_then_hang_up(stream: anyio.abc.ByteStream, posts: list[bytes]) -> None:
    """Answer logins; read any other request whole, then close without a word."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            buffer += await stream.receive()
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buffer) < length:
            buffer += await stream.receive()
        buffer = buffer[length:]
        if b"/auth/login" not in head.split(b"\r\n")[0]:
            posts.append(head.split(b"\r\n")[0])
            return
        body = b'{"bearer": "%s"}' % make_jwt(time.time() + 3600).encode()
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )


async def test_a_write_the_server_hung_up_on_is_never_sent_again(anyio_backend: str) -> None:
    """The server reads a create whole and closes: the error says it may have been applied.

    The request arrived, so it is not sent again (aiohttp's error for this,
    ServerDisconnectedError, reached the SDK as a connect timeout and the
    create was sent four times).
    """
    for backend in backends_on(anyio_backend):
        requests: list[bytes] = []
        hang_up = functools.partial(_answer_login_then_hang_up, posts=requests)
        async with (
            raw_server(hang_up, read_request=False) as base_url,
            bsg_async.Client(
                DEFAULT_KEY,
                base_url=f"{base_url}/api",
                max_retries=3,
                retry_backoff=0,
                http_backend=backend,
            ) as client,
        ):
            with pytest.raises(bsg_async.APIConnectionError) as info:
                await client.lists.create(name="Weekly")
        assert (True, 0) == (info.value.may_have_been_applied, info.value.retries_taken), backend
        # The lookups that follow (is the list there?) are hung up on too.
        posts = [line for line in requests if line.startswith(b"POST")]
        assert [b"POST /api/groups HTTP/1.1"] == posts, backend


async def test_an_odd_field_key_fails_neither_the_contact_nor_the_walk(
    served: EmulatorServer,
) -> None:
    """A stored value under a non-numeric key (as the seed pages show): kept as a string key."""
    fake = served.fake
    odd = min(fake.contacts)
    field_id = next(iter(fake.fields))
    fake.account.set_value(odd, "additionalProp1", "string")
    async with connect("owned", served) as client:
        contact = await client.contacts.get(odd)
        walked = [c.id async for c in client.contacts.list(page_size=15)]
    assert "string" == contact.fields["additionalProp1"]
    assert fake.contacts[odd]["fields"][field_id] == contact.fields[field_id]
    assert sorted(fake.contacts) == sorted(walked)


async def test_bulk_concurrency_beyond_the_client_cap_warns_once(served: EmulatorServer) -> None:
    """get_many(concurrency=32) on a client capped at 4: every result, one warning."""
    first = min(served.fake.contacts)
    async with connect("owned", served, max_concurrency=4) as client:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = [c.id async for c in client.contacts.get_many([first] * 20, concurrency=32)]
            again = [c.id async for c in client.contacts.get_many([first], concurrency=32)]
    assert ([first] * 20, [first]) == (got, again)
    assert [bsg_async.ConcurrencyCappedWarning] == [w.category for w in caught]


def test_aiohttp_errors_while_an_answer_is_read_say_the_request_arrived() -> None:
    """A hang-up (aiohttp's ServerDisconnectedError) is a read error, never a connect one."""
    import aiohttp  # noqa: PLC0415 - the aiohttp backend's own dependency

    from bsg_async._aiohttp import mapped  # noqa: PLC0415

    request = httpx.Request("POST", "http://127.0.0.1:9/api/groups")
    for answered in (False, True):
        hung_up = httpx.ConnectTimeout("Server disconnected")
        hung_up.__cause__ = aiohttp.ServerDisconnectedError()
        assert httpx.ReadError is type(mapped(hung_up, request, answered=answered))
    slow = httpx.ReadTimeout("Timeout on reading data from socket")
    slow.__cause__ = aiohttp.SocketTimeoutError()
    assert httpx.ReadTimeout is type(mapped(slow, request, answered=True))
    connect = httpx.ConnectTimeout("Connection timeout to host")
    connect.__cause__ = aiohttp.ConnectionTimeoutError()
    assert httpx.ConnectTimeout is type(mapped(connect, request, answered=False))
    assert httpx.ReadTimeout is type(mapped(connect, request, answered=True))
