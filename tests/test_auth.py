"""JWT auth: lazy single-flight login, refresh before exp, one re-login on 401."""

from __future__ import annotations

import anyio
import httpx
import pytest
import respx

import bsg_async
from bsg_async._auth import Secret, jwt_expiry
from tests.helpers import KEY, FakeClock, contact_json, make_jwt, mocked_client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (make_jwt(1_700_000_123), 1_700_000_123.0),
        (make_jwt(None), None),
        ("not-a-jwt", None),
        ("a.!!!.c", None),
        ("a.bnVsbA.c", None),  # payload "null"
    ],
)
def test_jwt_expiry(token: str, expected: float | None) -> None:
    """exp is read from the payload; anything else means 'unknown'."""
    assert expected == jwt_expiry(token)


def test_secret_hides_itself() -> None:
    """A Secret's repr and str never contain the value."""
    secret = Secret(KEY)
    assert KEY not in repr(secret)
    assert KEY not in str(secret)
    assert KEY == secret.reveal()


async def test_single_flight_login(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """100 tasks starting together cause exactly one login."""
    api.get("/contacts/1").respond(200, json={"data": contact_json(1)})

    async def one() -> None:
        await client.contacts.get(1)

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(one)
    assert 1 == api["login"].call_count
    assert 100 == api.routes[1].call_count


async def test_refresh_before_exp(api: respx.MockRouter, clock: FakeClock) -> None:
    """Inside the refresh margin, POST /auth/refresh with the old token gives a new one."""
    first = make_jwt(clock.now + 600)
    second = make_jwt(clock.now + 1200, subject="renewed")
    api["login"].respond(200, json={"bearer": first})
    refresh = api.post("/auth/refresh").respond(200, json={"bearer": second})
    route = api.get("/contacts/1").respond(200, json={"data": contact_json(1)})
    async with mocked_client(clock=clock) as client:
        await client.contacts.get(1)
        clock.now += 600 - 59  # 59 s before exp: inside the 60 s margin
        await client.contacts.get(1)
    assert (1, 1) == (api["login"].call_count, refresh.call_count)
    assert f"Bearer {first}" == refresh.calls[0].request.headers["authorization"]
    assert f"Bearer {second}" == route.calls[1].request.headers["authorization"]
    assert b"" == refresh.calls[0].request.content


async def test_expired_token_logs_in_again(api: respx.MockRouter, clock: FakeClock) -> None:
    """Past exp, the SDK logs in again instead of refreshing."""
    api["login"].mock(
        side_effect=[
            httpx.Response(200, json={"bearer": make_jwt(clock.now + 100)}),
            httpx.Response(200, json={"bearer": make_jwt(clock.now + 1000)}),
        ]
    )
    refresh = api.post("/auth/refresh").respond(200, json={"bearer": make_jwt(clock.now + 1)})
    api.get("/contacts/1").respond(200, json={"data": contact_json(1)})
    async with mocked_client(clock=clock) as client:
        await client.contacts.get(1)
        clock.now += 101
        await client.contacts.get(1)
    assert (2, 0) == (api["login"].call_count, refresh.call_count)


async def test_failed_refresh_falls_back_to_login(api: respx.MockRouter, clock: FakeClock) -> None:
    """A refresh that answers 401 is followed by a fresh login."""
    api["login"].respond(200, json={"bearer": make_jwt(clock.now + 600)})
    refresh = api.post("/auth/refresh").respond(401, json={"message": "Unauthenticated."})
    api.get("/contacts/1").respond(200, json={"data": contact_json(1)})
    async with mocked_client(clock=clock) as client:
        await client.contacts.get(1)
        clock.now += 590
        await client.contacts.get(1)
    assert (2, 1) == (api["login"].call_count, refresh.call_count)


async def test_401_relogin_and_replay(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """A 401 on a valid-looking token: log in again once and replay the request."""
    route = api.get("/contacts/1").mock(
        side_effect=[
            httpx.Response(401, json={"message": "Unauthenticated."}),
            httpx.Response(200, json={"data": contact_json(1)}),
        ]
    )
    assert 1 == (await client.contacts.get(1)).id
    assert (2, 2) == (api["login"].call_count, route.call_count)


async def test_second_401_is_authentication_error(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A 401 after the re-login is final: AuthenticationError, two logins, two sends."""
    route = api.get("/contacts/1").respond(401, json={"message": "Unauthenticated."})
    with pytest.raises(bsg_async.AuthenticationError) as info:
        await client.contacts.get(1)
    assert (2, 2, 401) == (api["login"].call_count, route.call_count, info.value.status_code)


async def test_concurrent_401s_share_one_relogin(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """When a revoked token fails 20 tasks at once, one new login serves all of them."""
    tokens = [make_jwt(clock.now + 3600, subject=f"t{i}") for i in range(5)]
    api["login"].mock(side_effect=[httpx.Response(200, json={"bearer": t}) for t in tokens])
    revoked = f"Bearer {tokens[0]}"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == revoked:
            return httpx.Response(401, json={"message": "Unauthenticated."})
        return httpx.Response(200, json={"data": contact_json(1)})

    api.get("/contacts/1").mock(side_effect=answer)
    await client.contacts.get(1)  # logs in with tokens[0]... which the server then revokes

    async def one() -> None:
        await client.contacts.get(1)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(one)
    assert 2 == api["login"].call_count


async def test_rejected_key_fails_fast(api: respx.MockRouter, clock: FakeClock) -> None:
    """A key the login refuses is AuthenticationError, and later calls do not log in again."""
    api["login"].respond(401, json={"message": "Invalid api key"})
    route = api.get("/contacts/1").respond(200, json={"data": contact_json(1)})
    async with mocked_client(clock=clock) as client:
        for _ in range(3):
            with pytest.raises(bsg_async.AuthenticationError) as info:
                await client.contacts.get(1)
            assert "API key was rejected" in str(info.value)
            assert KEY not in str(info.value)
    assert (1, 0) == (api["login"].call_count, route.call_count)


async def test_login_server_error_is_retried_then_typed(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """A login answering 502 is retried; when it keeps failing it is a ServerError."""
    api["login"].respond(502, text="<html>Bad Gateway</html>")
    async with mocked_client(clock=clock, max_retries=2) as client:
        with pytest.raises(bsg_async.ServerError) as info:
            await client.contacts.get(1)
    assert (3, 2) == (api["login"].call_count, info.value.retries_taken)


async def test_login_without_bearer_is_typed(api: respx.MockRouter, clock: FakeClock) -> None:
    """A 200 login answer without a token is an AuthenticationError, not a crash."""
    api["login"].respond(200, json={"token": "wrong-key"})
    async with mocked_client(clock=clock) as client:
        with pytest.raises(bsg_async.AuthenticationError):
            await client.contacts.get(1)


async def test_refresh_margin_grows_with_slow_round_trips(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """8 s round trips on a 100 s token: refreshed 16 s before exp, not 10 s."""
    api["login"].respond(200, json={"bearer": make_jwt(clock.now + 100)})
    refresh = api.post("/auth/refresh").respond(
        200, json={"bearer": make_jwt(clock.now + 1000, subject="renewed")}
    )

    def slow(request: httpx.Request) -> httpx.Response:
        clock.now += 8
        return httpx.Response(200, json={"data": contact_json(1)})

    api.get("/contacts/1").mock(side_effect=slow)
    start = clock.now
    async with mocked_client(clock=clock) as client:
        await client.contacts.get(1)
        assert start + 100 - 16 == client._core.stack.auth.refresh_at()
        clock.now = start + 100 - 15  # past the grown margin, inside the plain one
        await client.contacts.get(1)
    assert (1, 1) == (api["login"].call_count, refresh.call_count)


async def test_token_is_read_after_the_wait_in_line(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """A request that waits out a 120 s pause is sent with a token obtained after it."""
    api["login"].mock(
        side_effect=[
            httpx.Response(200, json={"bearer": make_jwt(clock.now + 60, subject="first")}),
            httpx.Response(200, json={"bearer": make_jwt(clock.now + 3600, subject="second")}),
        ]
    )
    api.post("/auth/refresh").respond(401, json={"message": "Unauthenticated."})
    route = api.get("/contacts/1").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "120"}, json={"message": "Slow"}),
            httpx.Response(200, json={"data": contact_json(1)}),
        ]
    )
    async with mocked_client(clock=clock) as client:
        await client.contacts.get(1)
    first, second = (call.request.headers["authorization"] for call in route.calls)
    assert first != second
    assert second == f"Bearer {make_jwt(1_700_000_000.0 + 3600, subject='second')}"
    assert [120.0] == clock.sleeps
