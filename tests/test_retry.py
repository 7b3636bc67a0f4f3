"""Retry: the pure backoff maths, and the transport over respx with injected time."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

import bsg_async
from bsg_async import _call
from bsg_async._retry import (
    RetryPolicy,
    backoff_delay,
    is_duplicate_refusal,
    never_reached_server,
)
from tests.helpers import FakeClock, contact_json, make_jwt, mocked_client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("retry_number", "retry_after", "jitter", "expected"),
    [
        (0, None, 1.0, 0.5),
        (1, None, 1.0, 1.0),
        (2, None, 1.0, 2.0),
        (0, None, 0.0, 0.25),
        (2, None, 0.5, 1.5),
        (10, None, 1.0, 30.0),  # capped by max_backoff
        (0, 7.0, 0.0, 7.0),  # Retry-After wins
        (3, 500.0, 1.0, 120.0),  # Retry-After capped
        (0, 0.0, 1.0, 0.0),
    ],
)
def test_backoff_delay(
    retry_number: int, retry_after: float | None, jitter: float, expected: float
) -> None:
    """Exponential backoff with equal jitter; Retry-After overrides it."""
    assert expected == backoff_delay(RetryPolicy(backoff=0.5), retry_number, retry_after, jitter)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.PoolTimeout("pool"), True),
        (httpx.ReadTimeout("read"), False),
        (httpx.ReadError("reset"), False),
        (httpx.RemoteProtocolError("closed"), False),
        (httpx.WriteError("pipe"), False),
    ],
)
def test_never_reached_server(exc: httpx.TransportError, expected: bool) -> None:
    """Only connect-phase failures prove a request was never sent."""
    assert expected is never_reached_server(exc)


async def test_retries_5xx_with_exact_delays(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """500, 502, 503 then 200: three retries after 0.5, 1 and 2 seconds."""
    route = api.get("/contacts/1").mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(502, text="<html>bad gateway</html>"),
            httpx.Response(503),
            httpx.Response(200, json={"data": contact_json(1)}),
        ]
    )
    assert 1 == (await client.contacts.get(1)).id
    assert 4 == route.call_count
    assert [0.5, 1.0, 2.0] == clock.sleeps


async def test_gives_up_after_max_retries(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """Four 503s: the fourth surfaces as ServerError with retries_taken=3."""
    route = api.get("/contacts/1").respond(
        503, text="<html><body>Service down</body></html>", headers={"content-type": "text/html"}
    )
    with pytest.raises(bsg_async.ServerError) as info:
        await client.contacts.get(1)
    assert (4, 3, 503) == (route.call_count, info.value.retries_taken, info.value.status_code)
    assert "non-JSON body (text/html" in info.value.message
    assert "Service down" in str(info.value)
    assert [0.5, 1.0, 2.0] == clock.sleeps


async def test_retry_after_is_honoured(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """A 429 with Retry-After: 7 waits exactly 7 seconds before retrying."""
    route = api.get("/contacts/1").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}),
            httpx.Response(200, json={"data": contact_json(1)}),
        ]
    )
    await client.contacts.get(1)
    assert 2 == route.call_count
    # The shared pause and the retry delay describe the same 7 s: slept once.
    assert [7.0] == clock.sleeps


async def test_connection_errors_are_retried(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """Read errors and timeouts on a GET are retried like 5xx."""
    route = api.get("/contacts/1").mock(
        side_effect=[
            httpx.ReadError("reset"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"data": contact_json(1)}),
        ]
    )
    await client.contacts.get(1)
    assert (3, [0.5, 1.0]) == (route.call_count, clock.sleeps)


async def test_timeout_after_retries_is_typed(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A timeout that outlasts the retries is APITimeoutError with the count."""
    api.get("/contacts/1").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(bsg_async.APITimeoutError) as info:
        await client.contacts.get(1)
    assert isinstance(info.value, bsg_async.APIConnectionError)
    assert (3, False) == (info.value.retries_taken, info.value.may_have_been_applied)
    assert "GET /api/contacts/1 to one-api.bsg.world:443 timed out: ReadTimeout" in str(info.value)


async def test_create_not_retried_after_read_timeout(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """POST /contacts is not repeated after a read timeout: it may have been applied."""
    route = api.post("/contacts").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(bsg_async.APITimeoutError) as info:
        await client.contacts.create(phone=61401629754, recover=False)
    assert (1, 0, True) == (
        route.call_count,
        info.value.retries_taken,
        info.value.may_have_been_applied,
    )
    assert "may have been applied" in str(info.value)
    assert [] == clock.sleeps


async def test_create_not_retried_after_500(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A 5xx on create surfaces at once, flagged as possibly applied."""
    route = api.post("/contacts").respond(500, json={"message": "Server Error"})
    with pytest.raises(bsg_async.ServerError) as info:
        await client.contacts.create(phone=61401629754, recover=False)
    assert (1, True) == (route.call_count, info.value.may_have_been_applied)


async def test_create_retried_after_connect_error(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """A connect error proves the POST never left: it is retried."""
    route = api.post("/contacts").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(201, json={"data": contact_json(3)}),
        ]
    )
    assert 3 == (await client.contacts.create(phone=61401629754)).id
    assert (2, [0.5]) == (route.call_count, clock.sleeps)


async def test_max_retries_zero(api: respx.MockRouter, clock: FakeClock) -> None:
    """max_retries=0 sends once."""
    route = api.get("/contacts/1").respond(502)
    async with bsg_async.Client(
        "live_k", max_retries=0, clock=clock, http_backend="httpx"
    ) as client:
        with pytest.raises(bsg_async.ServerError):
            await client.contacts.get(1)
    assert (1, []) == (route.call_count, clock.sleeps)


async def test_4xx_is_not_retried(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """400 and 403 are final."""
    bad = api.get("/contacts/1").respond(400, json={"message": "Bad", "errors": {"id": ["no"]}})
    denied = api.get("/contacts/2").respond(403, json={"message": "Forbidden"})
    with pytest.raises(bsg_async.BadRequestError) as info:
        await client.contacts.get(1)
    assert {"id": ["no"]} == info.value.errors
    with pytest.raises(bsg_async.PermissionDeniedError):
        await client.contacts.get(2)
    assert (1, 1) == (bad.call_count, denied.call_count)


SEARCH = "/contacts/search"


async def test_create_recovery_finds_applied_contact(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A create that timed out but was applied is found by phone, not sent twice."""
    create = api.post("/contacts").mock(side_effect=httpx.ReadTimeout("slow"))
    lookup = api.get(SEARCH).respond(
        200,
        json={
            "data": [contact_json(42, phone=61401629754)],
            "meta": {"page": {"limit": 15, "offset": 0, "total": 1}},
        },
    )
    contact = await client.contacts.create(phone=61401629754)
    assert (42, 1, 1) == (contact.id, create.call_count, lookup.call_count)
    assert ("search[field]", "phone") in list(lookup.calls[0].request.url.params.multi_items())


async def test_create_recovery_resends_when_not_applied(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A 502 on create with the phone absent afterwards: the create is sent again."""
    create = api.post("/contacts").mock(
        side_effect=[
            httpx.Response(502, text="<html>bad gateway</html>"),
            httpx.Response(201, json={"data": contact_json(7, phone=61401629754)}),
        ]
    )
    empty = {"data": [], "meta": {"page": {"limit": 15, "offset": 0, "total": 0}}}
    lookup = api.get(SEARCH).respond(200, json=empty)
    assert 7 == (await client.contacts.create(phone=61401629754)).id
    assert (2, 1) == (create.call_count, lookup.call_count)


async def test_create_recovery_gives_up_after_three(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """Four ambiguous failures in a row raise, still flagged as possibly applied."""
    create = api.post("/contacts").respond(503)
    empty = {"data": [], "meta": {"page": {"limit": 15, "offset": 0, "total": 0}}}
    lookup = api.get(SEARCH).respond(200, json=empty)
    with pytest.raises(bsg_async.ServerError) as info:
        await client.contacts.create(phone=61401629754)
    assert (4, 3, True) == (create.call_count, lookup.call_count, info.value.may_have_been_applied)


async def test_find_by_phone_matches_exactly(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """find_by_phone returns the exact match among search results, or None."""
    page = {
        "data": [contact_json(1, phone=614016297540), contact_json(2, phone=61401629754)],
        "meta": {"page": {"limit": 15, "offset": 0, "total": 2}},
    }
    api.get(SEARCH).respond(200, json=page)
    found = await client.contacts.find_by_phone(61401629754)
    assert 2 == (found.id if found else None)
    assert await client.contacts.find_by_phone(61401629999) is None
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.contacts.find_by_phone(123)


async def test_duplicate_phone_is_not_recovered(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A 422 is a definite answer: no lookup, the error surfaces."""
    api.post("/contacts").respond(
        422, json={"message": "Phone number is already exist in contact book"}
    )
    lookup = api.get(SEARCH).respond(200, json={})
    with pytest.raises(bsg_async.UnprocessableEntityError):
        await client.contacts.create(phone=61401629754)
    assert 0 == lookup.call_count


def _request(method: str, *, idempotent: bool | None = None, write: bool = False) -> httpx.Request:
    request = httpx.Request(method, "https://x/api/contacts")
    request.extensions[_call.KEY] = _call.Call(idempotent=idempotent, write=write)
    return request


@pytest.mark.parametrize(
    ("request_", "response", "expected"),
    [
        # A create or update refused as a duplicate: never sent again.
        (_request("POST", idempotent=False), httpx.Response(429), True),
        (_request("PUT", write=True), httpx.Response(429), True),
        (_request("PATCH", write=True, idempotent=True), httpx.Response(429), True),
        # Retry-After makes it a real rate limit, which is waited out.
        (
            _request("POST", idempotent=False),
            httpx.Response(429, headers={"Retry-After": "2"}),
            False,
        ),
        # Idempotent POSTs (attach, delete, stop list) keep retrying.
        (_request("POST", idempotent=True), httpx.Response(429), False),
        (_request("GET"), httpx.Response(429), False),
        (_request("POST", idempotent=False), httpx.Response(503), False),
    ],
)
def test_is_duplicate_refusal(
    request_: httpx.Request, response: httpx.Response, expected: bool
) -> None:
    """Which 429 answers are BSG's duplicate detection refusing a write."""
    assert expected == is_duplicate_refusal(request_, response)


DUPLICATE = {"message": "Too many duplicate request detected"}


async def test_duplicate_429_on_update_is_not_sent_again(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """An update answered 429 without Retry-After: one request, a typed duplicate error."""
    route = api.put("/contacts/5").respond(429, json=DUPLICATE)
    with pytest.raises(bsg_async.RateLimitError, match="refused as a duplicate") as info:
        await client.contacts.update(5, phone=61401629754)
    assert (1, [], True, True) == (
        route.call_count,
        clock.sleeps,
        info.value.duplicate,
        info.value.may_have_been_applied,
    )


async def test_duplicate_429_on_a_first_create_is_final(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A first attempt refused as a duplicate: someone else's request, no lookup, one POST."""
    route = api.post("/contacts").respond(429, json=DUPLICATE)
    lookup = api.get("/contacts/search").respond(200, json=_found(7))
    with pytest.raises(bsg_async.RateLimitError) as info:
        await client.contacts.create(phone=61401629754)
    assert (1, 0, True) == (route.call_count, lookup.call_count, info.value.duplicate)


def _found(*ids: int) -> dict[str, object]:
    """A phone search's answer holding these contacts (all with the test phone)."""
    return {
        "data": [contact_json(i, phone=61401629754) for i in ids],
        "meta": {"page": {"limit": 15, "offset": 0, "total": len(ids)}},
    }


EXISTS = {"message": "Phone number is already exist in contact book", "errors": []}


@pytest.mark.parametrize(
    "refusal",
    [httpx.Response(422, json=EXISTS), httpx.Response(429, json=DUPLICATE)],
    ids=["422-exists", "429-duplicate"],
)
async def test_resend_refused_after_a_late_apply_is_this_calls_contact(
    client: bsg_async.Client,
    api: respx.MockRouter,
    refusal: httpx.Response,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Timeout, lookup finds nothing, the re-send is refused: the first attempt landed late."""
    create = api.post("/contacts").mock(side_effect=[httpx.ReadTimeout("slow"), refusal])
    lookup = api.get("/contacts/search").mock(
        side_effect=[httpx.Response(200, json=_found()), httpx.Response(200, json=_found(42))]
    )
    with caplog.at_level(logging.INFO, logger="bsg_async"):
        contact = await client.contacts.create(phone=61401629754)
    assert (42, 2, 2) == (contact.id, create.call_count, lookup.call_count)
    assert "this call's earlier attempt had been applied" in caplog.text


async def test_resend_refused_and_not_found_keeps_the_refusal(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """The re-send's "already exists" stands when no lookup can find the contact."""
    api.post("/contacts").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(422, json=EXISTS)]
    )
    api.get("/contacts/search").respond(200, json=_found())
    with pytest.raises(bsg_async.UnprocessableEntityError, match="already exist"):
        await client.contacts.create(phone=61401629754)


async def test_429_with_retry_after_resends_a_create(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """A create refused by a real rate limit is sent again after the server's delay."""
    route = api.post("/contacts").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "Slow down"}),
            httpx.Response(201, json={"data": contact_json(9)}),
        ]
    )
    assert 9 == (await client.contacts.create(phone=61401629754)).id
    assert (2, [3.0]) == (route.call_count, clock.sleeps)


async def test_budget_stops_backoff_that_would_overrun_it(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """total_timeout=2: delays 0.5 and 1.0 fit, 2.0 would not; the error comes after 2 retries."""
    route = api.get("/contacts/1").respond(500, json={"message": "Server Error"})
    async with mocked_client(clock=clock, max_retries=10, total_timeout=2.0) as c:
        with pytest.raises(bsg_async.ServerError) as info:
            await c.contacts.get(1)
    assert (3, [0.5, 1.0], 2) == (route.call_count, clock.sleeps, info.value.retries_taken)


async def test_retry_after_beyond_budget_raises_rate_limit_error(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """Retry-After: 120 with a 60 s budget: RateLimitError at once, nothing slept."""
    route = api.get("/contacts/1").respond(
        429, headers={"Retry-After": "120"}, json={"message": "Too Many Attempts."}
    )
    async with mocked_client(clock=clock, total_timeout=60) as c:
        with pytest.raises(bsg_async.RateLimitError, match="longer than this call") as info:
            await c.contacts.get(1)
    assert (1, [], 120.0) == (route.call_count, clock.sleeps, info.value.retry_after)


async def test_login_failure_is_retried_even_for_a_create(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """A 503 at login means the create never left: both are retried, the create sent once."""
    api["login"].mock(
        side_effect=[
            httpx.Response(503, json={"message": "Service Unavailable"}),
            httpx.Response(200, json={"bearer": make_jwt(clock.now + 3600)}),
        ]
    )
    route = api.post("/contacts").respond(201, json={"data": contact_json(4)})
    async with mocked_client(clock=clock) as c:
        assert 4 == (await c.contacts.create(phone=61401629754)).id
    assert (2, 1, [0.5]) == (api["login"].call_count, route.call_count, clock.sleeps)


async def test_connect_error_at_login_is_retried_for_a_create(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """A login that never connected proves the create was not sent: retried."""
    api["login"].mock(
        side_effect=[
            httpx.ReadTimeout("slow login"),
            httpx.Response(200, json={"bearer": make_jwt(clock.now + 3600)}),
        ]
    )
    route = api.post("/contacts").respond(201, json={"data": contact_json(4)})
    async with mocked_client(clock=clock) as c:
        assert 4 == (await c.contacts.create(phone=61401629754)).id
    assert (2, 1) == (api["login"].call_count, route.call_count)


async def test_401_replay_counts_as_a_retry(api: respx.MockRouter, clock: FakeClock) -> None:
    """A 401 answered by a new login and a replay, then a 500 retried: retries_taken is 2."""
    api.get("/contacts/1").mock(
        side_effect=[
            httpx.Response(401, json={"message": "Unauthenticated."}),
            httpx.Response(500, json={"message": "Server Error"}),
            httpx.Response(500, json={"message": "Server Error"}),
        ]
    )
    async with mocked_client(clock=clock, max_retries=1) as c:
        with pytest.raises(bsg_async.ServerError) as info:
            await c.contacts.get(1)
    assert (2, 2) == (info.value.retries_taken, api["login"].call_count)
