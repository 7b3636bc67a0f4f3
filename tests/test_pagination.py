"""The paginator: every item exactly once, limit/offset, changing totals, early exits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
import respx

import bsg_async
from bsg_async._pagination import Paginator
from bsg_async.models import Page
from bsg_async.testing import DEFAULT_KEY, IN_PROCESS_URL, FakeBSG, Faults
from tests.helpers import contact_json

pytestmark = pytest.mark.anyio


class Book:
    """A server-side contact book answering GET /contacts by offset."""

    def __init__(self, count: int, *, grow_by: int = 0, short_at: int | None = None) -> None:
        self.ids = list(range(1, count + 1))
        self.grow_by = grow_by
        self.short_at = short_at
        self.asked: list[tuple[int, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["page[offset]"])
        limit = int(request.url.params["page[limit]"])
        self.asked.append((offset, limit))
        rows = self.ids[offset : offset + limit]
        if self.short_at is not None and offset >= self.short_at:
            rows = rows[: limit // 2]
        total = len(self.ids)
        if self.grow_by:  # rows keep arriving while we page
            start = self.ids[-1] + 1
            self.ids.extend(range(start, start + self.grow_by))
        return httpx.Response(200, json={"data": [contact_json(i) for i in rows], "total": total})


async def test_1234_contacts_each_once_in_order(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """1,234 contacts at page_size 100: 13 requests, every id once, in order."""
    book = Book(1234)
    api.get("/contacts").mock(side_effect=book)
    ids = [c.id async for c in client.contacts.list(page_size=100)]
    assert list(range(1, 1235)) == ids
    assert [(o, 100) for o in range(0, 1300, 100)] == book.asked


async def test_pages_report_offset_and_total(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """.pages() yields Page objects with their offset and the server's total."""
    api.get("/contacts").mock(side_effect=Book(40))
    pages = [p async for p in client.contacts.list(page_size=15).pages()]
    assert [(0, 15, 40), (15, 15, 40), (30, 10, 40)] == [
        (p.offset, len(p.items), p.total) for p in pages
    ]
    assert all(isinstance(p, Page) for p in pages)


async def test_limit_and_offset(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """offset resumes; limit caps items and shrinks the last request (not below 15)."""
    book = Book(1000)
    api.get("/contacts").mock(side_effect=book)
    ids = await client.contacts.list(page_size=100, offset=250, limit=205).collect()
    assert list(range(251, 456)) == [c.id for c in ids]
    assert [(250, 100), (350, 100), (450, 15)] == book.asked


async def test_total_growing_while_paging(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """Rows added while paging: the walk ends, with no duplicates."""
    book = Book(100, grow_by=10)
    api.get("/contacts").mock(side_effect=book)
    ids = [c.id async for c in client.contacts.list(page_size=50)]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids)
    assert ids[:100] == list(range(1, 101))
    assert len(book.asked) <= 4


async def test_short_page_stops(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """A page shorter than asked ends the walk even if total says more."""
    book = Book(200, short_at=50)
    api.get("/contacts").mock(side_effect=book)
    ids = [c.id async for c in client.contacts.list(page_size=50)]
    assert list(range(1, 76)) == ids
    assert [(0, 50), (50, 50)] == book.asked


async def test_empty_page_stops(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """A server claiming total=1000 but returning nothing stops after one request."""
    route = api.get("/contacts").respond(200, json={"data": [], "total": 1000})
    assert [] == await client.contacts.list().collect()
    assert 1 == route.call_count


async def test_break_stops_requests(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """Breaking out after the first item sends no further page requests."""
    book = Book(1000)
    api.get("/contacts").mock(side_effect=book)
    async for contact in client.contacts.list(page_size=100):
        assert 1 == contact.id
        break
    assert [(0, 100)] == book.asked


async def test_error_names_the_offset_to_resume_from(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A page that keeps failing raises with .offset; resuming there completes the walk."""
    book = Book(300)
    failing = {"on": True}

    def answer(request: httpx.Request) -> httpx.Response:
        if failing["on"] and request.url.params["page[offset]"] == "200":
            return httpx.Response(500, json={"message": "Server Error"})
        return book(request)

    api.get("/contacts").mock(side_effect=answer)
    seen: list[int] = []
    with pytest.raises(bsg_async.ServerError) as info:
        async for contact in client.contacts.list(page_size=100):
            seen.append(contact.id)
    assert 200 == info.value.offset
    failing["on"] = False
    async for contact in client.contacts.list(page_size=100, offset=info.value.offset):
        seen.append(contact.id)
    assert list(range(1, 301)) == seen


async def test_paginator_on_its_own() -> None:
    """The paginator needs only a fetch function: pages of 15 from 0 to 31."""
    asked: list[tuple[int, int]] = []

    async def fetch(offset: int, limit: int) -> Page[int]:
        asked.append((offset, limit))
        items = tuple(range(offset, min(offset + limit, 31)))
        return Page(items=items, offset=offset, total=31)

    assert list(range(31)) == await Paginator(fetch, page_size=15, offset=0, limit=None).collect()
    assert [(0, 15), (15, 15), (30, 15)] == asked


# ------------------------------------------------------------------ stream()


class Counting(httpx.AsyncBaseTransport):
    """The emulator in process, counting list requests and the most in flight at once."""

    def __init__(self, fake: FakeBSG) -> None:
        self._inner = fake.transport()
        self.sent = 0
        self.in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        counted = request.url.path.endswith("/contacts")
        if counted:
            self.sent += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            if counted:
                self.in_flight -= 1


def _client(fake: FakeBSG, transport: httpx.AsyncBaseTransport, **options: Any) -> bsg_async.Client:
    options.setdefault("max_concurrency", 32)
    return bsg_async.Client(
        DEFAULT_KEY, base_url=IN_PROCESS_URL, transport=transport, retry_backoff=0, **options
    )


async def test_stream_keeps_prefetch_requests_in_flight_and_the_order() -> None:
    """prefetch=8 over 40 pages: pages in offset order, exactly as list(), 8 requests at once."""
    fake = FakeBSG(seed_contacts=600, faults=Faults(latency=0.01))
    counting = Counting(fake)
    async with _client(fake, counting) as client:
        paginator = client.contacts.list(page_size=15, prefetch=8)
        async with paginator.stream() as pages:
            streamed = [page async for page in pages]
    assert list(range(0, 600, 15)) == [page.offset for page in streamed]
    assert list(fake.contacts) == [c.id for page in streamed for c in page.items]
    assert (40, 8) == (counting.sent, counting.peak)


async def test_stream_stopped_early_wastes_at_most_prefetch_requests() -> None:
    """Leaving after 3 pages: no more than 3 + 8 requests, and no task left running."""
    fake = FakeBSG(seed_contacts=600, faults=Faults(latency=0.01))
    counting = Counting(fake)
    async with _client(fake, counting) as client:
        tasks = len(anyio.get_running_tasks())
        async with client.contacts.list(page_size=15, prefetch=8).stream() as pages:
            taken = 0
            async for _ in pages:
                taken += 1
                if taken == 3:
                    break
        assert tasks == len(anyio.get_running_tasks())
    assert counting.sent <= 3 + 8


async def test_stream_hands_out_a_failure_in_its_place_with_the_offset() -> None:
    """A page that fails: the pages before it, then the error naming where to resume."""
    fake = FakeBSG(seed_contacts=100)
    served = fake.transport()

    async def failing_from_45(request: httpx.Request) -> httpx.Response:
        if int(request.url.params.get("page[offset]", "0")) >= 45:
            return httpx.Response(500, json={"message": "Server Error"})
        return await served.handle_async_request(request)

    async with _client(fake, httpx.MockTransport(failing_from_45), max_retries=0) as client:
        got: list[int] = []
        async with client.contacts.list(page_size=15, prefetch=4).stream() as pages:
            with pytest.raises(bsg_async.ServerError) as info:
                async for page in pages:
                    got.append(page.offset)
    assert [0, 15, 30] == got
    assert 45 == info.value.offset


async def test_stream_honours_limit_and_offset() -> None:
    """offset=20, limit=50 through the stream: exactly those 50 contacts."""
    fake = FakeBSG(seed_contacts=200)
    async with _client(fake, fake.transport()) as client:
        paginator = client.contacts.list(page_size=15, offset=20, limit=50, prefetch=4)
        async with paginator.stream() as pages:
            ids = [c.id async for page in pages for c in page.items]
    assert list(fake.contacts)[20:70] == ids


async def test_stream_over_a_socket() -> None:
    """The served emulator: 1,000 contacts through a sliding window of 6, in order."""
    fake = FakeBSG(seed_contacts=1000)
    with fake.serve() as server:
        async with (
            bsg_async.Client(DEFAULT_KEY, base_url=server.base_url) as client,
            client.contacts.list(page_size=50, prefetch=6).stream() as pages,
        ):
            ids = [c.id async for page in pages for c in page.items]
    assert list(fake.contacts) == ids


async def test_an_error_in_the_stream_block_comes_out_as_raised() -> None:
    """The body's own exception is not wrapped in an exception group; nothing left running."""
    fake = FakeBSG(seed_contacts=100)
    async with _client(fake, fake.transport()) as client:
        tasks = len(anyio.get_running_tasks())
        with pytest.raises(LookupError, match="stop here"):
            async with client.contacts.list(page_size=15, prefetch=4).stream() as pages:
                async for _ in pages:
                    raise LookupError("stop here")
        assert tasks == len(anyio.get_running_tasks())


async def test_paging_keywords_are_one_typed_dict(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """The same four keywords on every list and search call, passable as one dict;
    a misspelt one is a TypeError before anything is sent."""
    book = Book(100)
    route = api.get("/contacts").mock(side_effect=book)
    paging: bsg_async.PagingOptions = {"page_size": 20, "offset": 10, "limit": 30}
    ids = await client.contacts.list(**paging).collect()
    assert list(range(11, 41)) == [c.id for c in ids]
    assert [(10, 20), (30, 15)] == book.asked
    calls: list[Callable[[], object]] = [
        lambda: client.contacts.list(page_sise=20),  # type: ignore[call-arg]
        lambda: client.contacts.search(field="phone", operator="=", value=1, pagesize=20),  # type: ignore[call-arg]
        lambda: client.lists.list(perfetch=2),  # type: ignore[call-arg]
        lambda: client.stoplist.list(ofset=3),  # type: ignore[call-arg]
    ]
    for call in calls:
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            call()
    assert 2 == route.call_count


async def test_pages_and_stream_are_public_types(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """pages(), stream() and async for return the exported iterator types."""
    api.get("/contacts").mock(side_effect=Book(40))
    paginator = client.contacts.list(page_size=15, prefetch=2)
    assert isinstance(paginator.pages(), bsg_async.PageIterator)
    assert isinstance(paginator.__aiter__(), bsg_async.ItemIterator)
    async with paginator.stream() as pages:
        assert isinstance(pages, bsg_async.PageStream)
        assert [40, 40, 40] == [page.total async for page in pages]
