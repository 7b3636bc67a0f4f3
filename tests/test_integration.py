"""End to end over real loopback sockets (uvicorn), on asyncio and trio."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG, Faults

pytestmark = pytest.mark.anyio


class SharedClock(bsg_async.Clock):
    """Wall time both the SDK and the emulator read, moved by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        await anyio.lowlevel.checkpoint()  # retries happen at once in these tests


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=10_000, seed=2).serve() as running:
        yield running


async def test_walk_10000_contacts_under_faults(server: EmulatorServer) -> None:
    """20% faults (500, HTML 502, 503, dropped connections): each contact once, in order."""
    fake = server.fake
    fake.faults = Faults.mixed(0.2, seed=11, retry_after=0.0)
    async with bsg_async.Client(
        DEFAULT_KEY, base_url=server.base_url, max_retries=10, retry_backoff=0.0
    ) as client:
        ids = [c.id async for c in client.contacts.list(page_size=250)]
    assert list(fake.contacts) == ids
    injected = sum(fake.stats[f"fault:{kind}"] for kind in ("500", "502", "503", "drop"))
    assert injected > 0
    assert fake.stats["route:contacts_list"] == 40 + injected


async def test_prefetch_walk_over_sockets(server: EmulatorServer) -> None:
    """prefetch=8 over loopback returns the same sequence as the emulator's order."""
    async with bsg_async.Client(DEFAULT_KEY, base_url=server.base_url) as client:
        ids = [c.id async for c in client.contacts.list(page_size=500, prefetch=8)]
    assert list(server.fake.contacts) == ids


async def test_token_expiry_mid_pagination_relogs_in(server: EmulatorServer) -> None:
    """The server expires the token halfway: one 401, one new login, no row lost."""
    fake = server.fake
    async with bsg_async.Client(DEFAULT_KEY, base_url=server.base_url) as client:
        ids: list[int] = []
        async for page in client.contacts.list(page_size=500).pages():
            ids.extend(c.id for c in page.items)
            if page.offset == 4500:
                fake.advance(3601)  # server-side expiry the SDK cannot foresee
    assert list(fake.contacts) == ids
    assert (2, 1) == (fake.stats["logins"], fake.stats["expired_tokens"])


async def test_refresh_before_expiry_mid_pagination() -> None:
    """When the shared clock nears exp, the SDK refreshes once instead of failing."""
    clock = SharedClock()
    fake = FakeBSG(seed_contacts=3000, token_ttl=600, clock=clock.time)
    with fake.serve() as running:
        async with bsg_async.Client(DEFAULT_KEY, base_url=running.base_url, clock=clock) as client:
            ids: list[int] = []
            async for page in client.contacts.list(page_size=500).pages():
                ids.extend(c.id for c in page.items)
                clock.offset += 110  # 600 s token: the 6th page (t=550) is in the margin
    assert list(fake.contacts) == ids
    assert (1, 1, 0) == (
        fake.stats["logins"],
        fake.stats["refreshes"],
        fake.stats["expired_tokens"],
    )


async def test_cancel_mid_page_leaves_client_usable(server: EmulatorServer) -> None:
    """Cancelling a walk while a page is in flight frees its slot; the client still works."""
    fake = server.fake
    async with bsg_async.Client(DEFAULT_KEY, base_url=server.base_url, max_concurrency=1) as client:
        await client.contacts.get(next(iter(fake.contacts)))  # logged in, connection open
        fake.faults = Faults(latency=5.0)
        with anyio.move_on_after(0.3) as scope:
            await client.contacts.list(page_size=500).collect()
        assert scope.cancelled_caught
        fake.faults = Faults()
        assert 0 == client._core.stack.pacer.in_flight
        with anyio.fail_after(10):  # a leaked slot would block here forever
            contact = await client.contacts.get(next(iter(fake.contacts)))
    assert next(iter(fake.contacts)) == contact.id


async def test_crud_round_trip_over_sockets(server: EmulatorServer) -> None:
    """Lists, contacts, fields and the stop list all work end to end."""
    async with bsg_async.Client(DEFAULT_KEY, base_url=server.base_url) as client:
        group = await client.lists.create(name="Integration")
        field = await client.fields.create(name="City", type="text")
        contact = await client.contacts.create(
            phone=61401629754, groups=[group.id], fields={field.id: "Kyiv"}
        )
        assert {field.id: "Kyiv"} == contact.fields
        assert [group.id] == [g.id for g in contact.groups]
        with pytest.raises(bsg_async.UnprocessableEntityError):
            await client.contacts.create(phone=61401629754)
        entries = await client.stoplist.add([61401629754], types=["sms", "viber"])
        assert (True, True) == (entries[0].sms_stoplist, entries[0].viber_stoplist)
        refreshed = await client.lists.get(group.id)
        assert (1, 1) == (refreshed.items, refreshed.stop_list_count)
        await client.contacts.delete(contact.id)
        with pytest.raises(bsg_async.NotFoundError):
            await client.contacts.get(contact.id)


async def test_user_fixtures(bsg_client: bsg_async.Client, fake_bsg: FakeBSG) -> None:
    """The public pytest fixtures give a client wired to an in-process emulator."""
    fake_bsg.seed_contacts(30)
    assert 30 == len(await bsg_client.contacts.list(page_size=15).collect())


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_backend_under_faults(server: EmulatorServer) -> None:
    """http_backend="aiohttp" (asyncio only): same results, faults mapped and retried."""
    fake = server.fake
    fake.faults = Faults.mixed(0.2, seed=13, retry_after=0.0)
    try:
        async with bsg_async.Client(
            DEFAULT_KEY,
            base_url=server.base_url,
            http_backend="aiohttp",
            max_retries=10,
            retry_backoff=0.0,
        ) as client:
            ids = [c.id async for c in client.contacts.list(page_size=500)]
            with pytest.raises(bsg_async.NotFoundError):
                await client.contacts.get(1)
    finally:
        fake.faults = Faults()
    assert list(fake.contacts) == ids
    assert fake.stats["fault:drop"] > 0


def test_unknown_http_backend_is_refused() -> None:
    """A misspelt backend is an InvalidRequestError at construction."""
    with pytest.raises(bsg_async.InvalidRequestError, match="http_backend"):
        bsg_async.Client(DEFAULT_KEY, http_backend="curl")  # type: ignore[arg-type]


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_aiohttp_backend_refuses_trio() -> None:
    """On trio the aiohttp backend fails clearly, before anything is sent."""
    fake = FakeBSG()
    with fake.serve() as running:
        async with bsg_async.Client(
            DEFAULT_KEY, base_url=running.base_url, http_backend="aiohttp"
        ) as client:
            with pytest.raises(bsg_async.InvalidRequestError, match="asyncio only"):
                await client.contacts.get(1)
    assert 0 == sum(v for k, v in fake.stats.items() if k.startswith("route:"))
