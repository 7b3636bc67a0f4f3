"""Bulk calls and prefetch: order kept, failures in place, concurrency bounded."""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx

import bsg_async
from bsg_async._bulk import WINDOW_FACTOR
from bsg_async.models import NewContact
from bsg_async.testing import DEFAULT_KEY, FakeBSG
from tests.helpers import FakeClock, contact_json, mocked_client

pytestmark = pytest.mark.anyio


async def crowd(counter: InFlight | Pages, target: int) -> None:
    """Hold a request until ``target`` are in flight together (or a while passed)."""
    for _ in range(200):
        if counter.active >= target:
            return
        await anyio.lowlevel.checkpoint()


class InFlight:
    """A respx side effect that counts concurrent requests and yields control."""

    def __init__(self, missing: set[int] | None = None, target: int = 1) -> None:
        self.active = 0
        self.peak = 0
        self.calls = 0
        self.missing = missing or set()
        self.target = target

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.active += 1
        self.calls += 1
        self.peak = max(self.peak, self.active)
        try:
            await crowd(self, self.target)
            contact_id = int(request.url.path.rsplit("/", 1)[1])
            if contact_id in self.missing:
                return httpx.Response(422, json={"message": "Invalid contact id", "errors": []})
            return httpx.Response(200, json={"data": contact_json(contact_id)})
        finally:
            self.active -= 1


async def test_get_many_keeps_input_order_and_bounds_concurrency(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """300 ids at concurrency 8: results in input order, never more than 8 in flight."""
    counter = InFlight(target=64)
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=counter)
    ids = [(i * 7919) % 1000 + 1 for i in range(300)]
    got = [c.id async for c in client.contacts.get_many(ids, concurrency=8)]
    assert ids == got
    assert 8 == counter.peak


async def test_client_cap_wins_over_bulk_concurrency(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """concurrency=64 on a client with max_concurrency=4: 4 in flight, and one warning saying so."""
    counter = InFlight(target=64)
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=counter)
    async with mocked_client(clock=clock, max_concurrency=4) as client:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = [c.id async for c in client.contacts.get_many(range(1, 201), concurrency=64)]
            again = [c.id async for c in client.contacts.get_many(range(1, 3), concurrency=64)]
    assert list(range(1, 201)) == got
    assert [1, 2] == again
    assert 4 == counter.peak
    expected = (
        "get_many(concurrency=64) runs at most 4 requests at a time: the client's"
        " max_concurrency is 4; pass Client(max_concurrency=64) for more"
    )
    assert [(bsg_async.ConcurrencyCappedWarning, expected)] == [
        (w.category, str(w.message)) for w in caught
    ]


async def test_get_many_return_exceptions_in_place(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """Missing contacts become NotFoundError in their own position; the rest arrive."""
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=InFlight(missing={3, 50}))
    results = [
        r
        async for r in client.contacts.get_many(
            range(1, 101), concurrency=5, return_exceptions=True
        )
    ]
    assert 100 == len(results)
    failed = [i for i, r in enumerate(results) if isinstance(r, bsg_async.NotFoundError)]
    assert [2, 49] == failed
    assert [i + 1 for i in range(100) if i not in failed] == [
        r.id for r in results if isinstance(r, bsg_async.Contact)
    ]


async def test_get_many_raises_first_error_with_index(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """Without return_exceptions the first failure is raised, items before it yielded."""
    counter = InFlight(missing={30}, target=4)
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=counter)
    seen: list[int] = []
    with pytest.raises(bsg_async.BulkError) as info:
        async for contact in client.contacts.get_many(range(1, 1001), concurrency=4):
            seen.append(contact.id)
    assert 29 == info.value.index
    assert isinstance(info.value.cause, bsg_async.NotFoundError)
    assert info.value.cause is info.value.__cause__
    assert {} == info.value.completed
    assert "item 29 of the input failed: GET /api/contacts/30 -> 422" in str(info.value)
    assert list(range(1, 30)) == seen
    assert counter.calls < 100  # the rest of the input was never sent


async def test_get_many_reads_input_lazily(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """A generator of a million ids is not materialised: breaking early stops reading it."""
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=InFlight())
    pulled = itertools.count(1)

    def ids() -> Iterator[int]:
        for i in range(1, 1_000_001):
            next(pulled)
            yield i

    async for contact in client.contacts.get_many(ids(), concurrency=8):
        if contact.id == 10:
            break
    # Read ahead of what was handed out by one window, no more.
    assert next(pulled) <= 10 + 8 * WINDOW_FACTOR + 1


# ------------------------------------------------ sliding, over a real socket


def _contact_id(request: httpx.Request) -> int | None:
    head, _, tail = request.url.path.rpartition("/")
    return int(tail) if head.endswith("/contacts") and tail.isdigit() else None


async def test_get_many_slides_past_a_slow_item() -> None:
    """Item 5 answers only once item 36 was sent: 2 in flight, never waiting for a whole window.

    Items 0-4 handed out, 32 (2 x 16) may be started beyond them: item 36 is
    the last. Run in windows of 32, item 36 could not start before item 5
    ended, and the call would never end.
    """
    fake = FakeBSG(seed_contacts=60, duplicate_window=0)
    ids = sorted(fake.contacts)
    item_36_sent = anyio.Event()
    sent: list[int] = []
    sent_while_5_in_flight: list[int] = []

    async def on_request(request: httpx.Request) -> None:
        contact_id = _contact_id(request)
        if contact_id is not None:
            sent.append(contact_id)
            if contact_id == ids[36]:
                item_36_sent.set()

    async def on_response(response: httpx.Response) -> None:
        if _contact_id(response.request) == ids[5]:
            await item_36_sent.wait()
            sent_while_5_in_flight.append(len(sent))

    with fake.serve() as server, anyio.fail_after(10):
        async with bsg_async.Client(
            DEFAULT_KEY,
            base_url=server.base_url,
            event_hooks={"request": [on_request], "response": [on_response]},
        ) as client:
            got = [c.id async for c in client.contacts.get_many(ids, concurrency=2)]
    assert ids == got
    assert ids == sorted(sent)
    # Items 0-36 went out while item 5 was in flight: 32 beyond the 5 handed out.
    assert [37] == sent_while_5_in_flight


async def test_a_retry_backoff_gives_its_place_to_the_next_item() -> None:
    """concurrency=1: while item 0 waits out its 503's backoff, items 1-4 are fetched."""
    fake = FakeBSG(seed_contacts=10, duplicate_window=0)
    ids = sorted(fake.contacts)
    answered: list[tuple[int | None, int]] = []
    four_more = anyio.Event()

    async def on_response(response: httpx.Response) -> None:
        answered.append((_contact_id(response.request), response.status_code))
        if len(answered) == 5:
            four_more.set()

    class Clock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            await four_more.wait()

    with fake.serve() as server, anyio.fail_after(10):
        async with bsg_async.Client(
            DEFAULT_KEY,
            base_url=server.base_url,
            clock=Clock(),
            event_hooks={"response": [on_response]},
        ) as client:
            await client.contacts.get(ids[9])  # logged in
            answered.clear()
            fake.answer_next(503, b'{"message": "busy"}')
            got = [c.id async for c in client.contacts.get_many(ids[:6], concurrency=1)]
    assert ids[:6] == got
    assert [(ids[0], 503), *[(i, 200) for i in ids[1:5]]] == answered[:5]
    # Then item 0's retry and item 5, in either order (both wait for the slot).
    assert {(ids[0], 200), (ids[5], 200)} == set(answered[5:])
    assert 7 == len(answered)


async def test_leaving_the_loop_starts_nothing_more_and_lets_creates_finish() -> None:
    """break after the first result: the creates in flight finish, no further row is sent.

    The iterator is dropped at the ``break``; its run must end by itself
    (nothing holds it). Every create but the first is held until the loop
    has been left, so only the first and those in flight then
    (concurrency=2) reach the emulator.
    """
    fake = FakeBSG(duplicate_window=0)
    left = anyio.Event()
    posted: list[int] = []

    async def on_request(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/contacts"):
            phone = json.loads(request.content)["phone"]
            posted.append(phone)
            if phone != rows[0]["phone"]:
                await left.wait()

    rows: list[dict[str, object]] = [{"phone": 61401629800 + n} for n in range(50)]
    with fake.serve() as server, anyio.fail_after(10):
        async with bsg_async.Client(
            DEFAULT_KEY, base_url=server.base_url, event_hooks={"request": [on_request]}
        ) as client:
            async for contact in client.contacts.create_many(rows, concurrency=2):
                first = contact.phone
                break
            left.set()
            # The creates held in flight finish; then nothing more is sent.
            while len(fake.contacts) < len(posted):
                await client.contacts.list(limit=1).collect()
            await client.contacts.list(limit=1).collect()  # one more round trip
    assert 61401629800 == first
    # Item 2 starts when item 0 ends, unless the loop was left first.
    assert sorted(posted) in ([61401629800, 61401629801], [61401629800, 61401629801, 61401629802])
    assert sorted(posted) == sorted(record.phone for record in fake.contacts.values())


async def test_aclose_waits_for_creates_and_cancels_reads(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """aclose() returns after the creates in flight end; reads in flight are cancelled."""
    release = anyio.Event()
    answered: list[int] = []

    async def create(request: httpx.Request) -> httpx.Response:
        phone = json.loads(request.content)["phone"]
        if phone != 61401629800:
            await release.wait()
        answered.append(phone)
        return httpx.Response(201, json={"data": contact_json(phone - 61401629000, phone=phone)})

    async def get(request: httpx.Request) -> httpx.Response:
        contact_id = _contact_id(request)
        if contact_id != 1:
            await anyio.sleep_forever()
        return httpx.Response(200, json={"data": contact_json(1)})

    api.post("/contacts").mock(side_effect=create)
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=get)
    creates = client.contacts.create_many(
        [{"phone": 61401629800 + n} for n in range(9)], concurrency=3
    )
    reads = client.contacts.get_many(range(1, 10), concurrency=3)
    with anyio.fail_after(5):
        assert 61401629800 == (await creates.__anext__()).phone
        assert 1 == (await reads.__anext__()).id
        await reads.aclose()  # the two reads hanging in flight are cancelled
        async with anyio.create_task_group() as group:
            group.start_soon(creates.aclose)
            await anyio.wait_all_tasks_blocked()
            assert [61401629800] == answered  # aclose waits for the creates in flight
            release.set()
    assert 4 == len(answered)  # 1 handed out + 3 in flight (concurrency 3), no more
    assert [] == [r async for r in creates]
    assert [] == [r async for r in reads]


async def test_closing_the_client_mid_way_raises_instead_of_ending() -> None:
    """The client closed under a bulk call: ClientClosedError, never a silently short result."""
    fake = FakeBSG(seed_contacts=40, duplicate_window=0)
    ids = sorted(fake.contacts)
    results: list[bsg_async.Contact | bsg_async.BSGError] = []
    with fake.serve() as server, anyio.fail_after(10):
        async with bsg_async.Client(DEFAULT_KEY, base_url=server.base_url) as client:
            with pytest.raises(bsg_async.ClientClosedError) as info:
                async for result in client.contacts.get_many(
                    ids, concurrency=2, return_exceptions=True
                ):
                    results.append(result)
                    if len(results) == 5:
                        await client.aclose()
    # Each result in its input position: a contact, or the error of a call cut off.
    assert ids[:5] == [r.id for r in results[:5] if isinstance(r, bsg_async.Contact)]
    for position, result in enumerate(results):
        if isinstance(result, bsg_async.Contact):
            assert ids[position] == result.id
        else:
            assert isinstance(result, bsg_async.ClientClosedError)
    assert "get_many: the client was closed; the items from" in str(info.value)


async def test_a_failing_input_raises_in_its_place(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """The input's own error comes after the results of the items read before it."""
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=InFlight())

    def ids() -> Iterator[int]:
        yield from range(1, 8)
        raise LookupError("the id file is truncated")

    seen: list[int] = []
    with pytest.raises(LookupError, match="truncated"):
        async for contact in client.contacts.get_many(ids(), concurrency=3):
            seen.append(contact.id)
    assert list(range(1, 8)) == seen


async def test_as_completed_hands_results_out_as_they_end() -> None:
    """Item 0 answers only after items 1-9 were handed out: each with its index, none waits."""
    fake = FakeBSG(seed_contacts=10, duplicate_window=0)
    ids = sorted(fake.contacts)
    rest_handed_out = anyio.Event()

    async def on_response(response: httpx.Response) -> None:
        if _contact_id(response.request) == ids[0]:
            await rest_handed_out.wait()

    pairs: list[tuple[int, int]] = []
    with fake.serve() as server, anyio.fail_after(10):
        async with bsg_async.Client(
            DEFAULT_KEY, base_url=server.base_url, event_hooks={"response": [on_response]}
        ) as client:
            async for index, contact in client.contacts.get_many(ids, concurrency=3).as_completed():
                pairs.append((index, contact.id))
                if len(pairs) == 9:
                    rest_handed_out.set()
    assert (0, ids[0]) == pairs[-1]
    assert sorted(pairs) == list(enumerate(ids))


async def test_as_completed_failures(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """Errors in place with their index; without return_exceptions, BulkError at the first."""
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=InFlight(missing={4}))
    bulk = client.contacts.get_many(range(1, 8), concurrency=2, return_exceptions=True)
    pairs = [pair async for pair in bulk.as_completed()]
    assert list(range(7)) == sorted(index for index, _ in pairs)
    failed = {index: type(result) for index, result in pairs if isinstance(result, Exception)}
    assert {3: bsg_async.NotFoundError} == failed
    with pytest.raises(bsg_async.BulkError) as info:
        async for _ in client.contacts.get_many(range(1, 8), concurrency=1).as_completed():
            pass
    assert (3, {}) == (info.value.index, info.value.completed)
    # One way per iterator.
    ordered = client.contacts.get_many(range(1, 3))
    assert 1 == (await ordered.__anext__()).id
    with pytest.raises(TypeError, match="already read in input order"):
        ordered.as_completed()
    await ordered.aclose()


async def test_aclose_input_errors_and_as_completed_failures_over_a_socket() -> None:
    """The respx tests above, against the served emulator: aclose, a failing input, as_completed.

    Requests are held in the client's own request hooks, before they go out.
    """
    fake = FakeBSG(seed_contacts=12, duplicate_window=0)
    ids = sorted(fake.contacts)
    missing = 1  # no contact has id 1: 422 "Invalid contact id"
    release = anyio.Event()
    answered: list[int] = []

    async def on_request(request: httpx.Request) -> None:
        if request.method == "POST":
            if json.loads(request.content)["phone"] != 61401629800:
                await release.wait()
        elif _contact_id(request) in ids[1:9]:
            await anyio.sleep_forever()

    async def on_response(response: httpx.Response) -> None:
        if response.request.method == "POST":
            answered.append(json.loads(response.request.content)["phone"])

    with fake.serve() as server, anyio.fail_after(10):
        async with bsg_async.Client(
            DEFAULT_KEY,
            base_url=server.base_url,
            event_hooks={"request": [on_request], "response": [on_response]},
        ) as client:
            creates = client.contacts.create_many(
                [{"phone": 61401629800 + n} for n in range(9)], concurrency=3
            )
            reads = client.contacts.get_many(ids[:9], concurrency=3)
            assert 61401629800 == (await creates.__anext__()).phone
            assert ids[0] == (await reads.__anext__()).id
            await reads.aclose()  # the reads held in flight are cancelled
            async with anyio.create_task_group() as group:
                group.start_soon(creates.aclose)
                await anyio.wait_all_tasks_blocked()
                assert [61401629800] == answered  # aclose waits for the creates in flight
                release.set()
            assert 4 == len(answered)  # 1 handed out + 3 in flight (concurrency 3), no more
            assert [] == [r async for r in creates]
            assert [] == [r async for r in reads]

            def truncated() -> Iterator[int]:
                yield from ids[9:]
                raise LookupError("the id file is truncated")

            seen: list[int] = []
            with pytest.raises(LookupError, match="truncated"):
                async for contact in client.contacts.get_many(truncated(), concurrency=2):
                    seen.append(contact.id)
            assert ids[9:] == seen

            wanted = [ids[9], missing, ids[10], ids[11]]
            bulk = client.contacts.get_many(wanted, concurrency=2, return_exceptions=True)
            pairs = [pair async for pair in bulk.as_completed()]
            assert [0, 1, 2, 3] == sorted(index for index, _ in pairs)
            failed = {i: type(r) for i, r in pairs if isinstance(r, bsg_async.BSGError)}
            assert {1: bsg_async.NotFoundError} == failed
            with pytest.raises(bsg_async.BulkError) as info:
                async for _ in client.contacts.get_many(wanted, concurrency=1).as_completed():
                    pass
            assert (1, {}) == (info.value.index, info.value.completed)


async def test_get_many_async_input(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """An async iterable of ids works too."""
    api.get(path__regex=r"/contacts/\d+").mock(side_effect=InFlight())

    async def ids() -> AsyncIterator[int]:
        for i in range(1, 51):
            yield i

    assert list(range(1, 51)) == [c.id async for c in client.contacts.get_many(ids())]


async def test_get_many_bad_id_takes_its_place(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """An invalid id is InvalidRequestError in its slot; it sends nothing."""
    route = api.get(path__regex=r"/contacts/\d+").mock(side_effect=InFlight())
    results = [r async for r in client.contacts.get_many([1, 0, 2], return_exceptions=True)]
    assert isinstance(results[1], bsg_async.InvalidRequestError)
    assert 2 == route.call_count


async def test_create_many_order_and_failures(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """Creates keep input order; duplicates fail in place without stopping the rest."""
    taken = {61401629760}
    next_id = itertools.count(1)

    def answer(request: httpx.Request) -> httpx.Response:
        phone = json.loads(request.content)["phone"]
        if phone in taken:
            return httpx.Response(
                422, json={"message": "Phone number is already exist in contact book", "errors": []}
            )
        taken.add(phone)
        return httpx.Response(201, json={"data": contact_json(next(next_id), phone=phone)})

    api.post("/contacts").mock(side_effect=answer)
    phones = [61401629750 + i for i in range(20)]
    items: list[NewContact | dict[str, object]] = [
        NewContact(phone=p) if i % 2 else {"phone": p, "groups": [], "fields": {1: "x"}}
        for i, p in enumerate(phones)
    ]
    results = [
        r async for r in client.contacts.create_many(items, concurrency=6, return_exceptions=True)
    ]
    assert [isinstance(r, bsg_async.UnprocessableEntityError) for r in results] == [
        p == 61401629760 for p in phones
    ]
    assert [p for p in phones if p != 61401629760] == [
        r.phone for r in results if isinstance(r, bsg_async.Contact)
    ]


async def test_create_many_failure_keeps_finished_creates(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """Without return_exceptions, creates in flight finish and are reported on the error."""

    failure_sent = anyio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        phone = json.loads(request.content)["phone"]
        if phone == 61401629752:
            failure_sent.set()
            return httpx.Response(
                422, json={"message": "Phone number is already exist in contact book"}
            )
        if phone <= 61401629753:  # items 0, 1 and 3 are in flight when item 2 fails
            await failure_sent.wait()
        return httpx.Response(201, json={"data": contact_json(phone - 61401629000, phone=phone)})

    route = api.post("/contacts").mock(side_effect=answer)
    seen: list[int] = []
    with pytest.raises(bsg_async.BulkError) as info:
        async for contact in client.contacts.create_many(
            [{"phone": 61401629750 + i} for i in range(100)], concurrency=4
        ):
            seen.append(contact.phone)
    error: bsg_async.BulkError[bsg_async.Contact] = info.value
    assert isinstance(error.cause, bsg_async.UnprocessableEntityError)
    assert (2, [61401629750, 61401629751]) == (error.index, seen)
    assert {3: 61401629753} == {i: c.phone for i, c in error.completed.items()}
    assert "(1 later items succeeded, see .completed)" in str(error)
    assert 4 == route.call_count


async def test_create_many_rejects_unknown_keys(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A mapping with a typo is refused in its slot, before sending."""
    results = [
        r
        async for r in client.contacts.create_many([{"phon": 61401629754}], return_exceptions=True)
    ]
    assert isinstance(results[0], bsg_async.InvalidRequestError)
    assert 0 == len(api.calls)


class Pages:
    """GET /contacts over ``count`` rows, counting requests and overlap."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.asked: list[int] = []
        self.active = 0
        self.peak = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await crowd(self, 64)
            offset = int(request.url.params["page[offset]"])
            limit = int(request.url.params["page[limit]"])
            self.asked.append(offset)
            rows = [contact_json(i + 1) for i in range(offset, min(offset + limit, self.count))]
            return httpx.Response(200, json={"data": rows, "total": self.count})
        finally:
            self.active -= 1


@pytest.mark.parametrize(
    ("count", "limit", "peak"), [(1234, None, 4), (1500, None, 4), (999, 370, 3), (14, None, 1)]
)
async def test_prefetch_matches_sequential(
    client: bsg_async.Client, api: respx.MockRouter, count: int, limit: int | None, peak: int
) -> None:
    """prefetch=4 yields exactly the sequence of prefetch=1, with pages overlapping."""
    sequential = Pages(count)
    api.get("/contacts").mock(side_effect=sequential)
    expected = [c.id async for c in client.contacts.list(page_size=100, limit=limit)]
    concurrent = Pages(count)
    api.get("/contacts").mock(side_effect=concurrent)
    got = [c.id async for c in client.contacts.list(page_size=100, limit=limit, prefetch=4)]
    assert expected == got
    assert len(expected) == (count if limit is None else min(limit, count))
    assert sorted(sequential.asked) == sorted(concurrent.asked)
    assert 1 == sequential.peak
    assert peak == concurrent.peak


async def test_prefetch_break_stops_requests(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """Breaking out of a prefetching walk sends nothing more than the current window."""
    pages = Pages(100_000)
    route = api.get("/contacts").mock(side_effect=pages)
    async for contact in client.contacts.list(page_size=100, prefetch=8):
        if contact.id == 150:  # on the second page
            break
    # The first page, then 8 in flight (page 900 starts as page 100 is handed
    # out, unless the break came first); those are cancelled, nothing follows.
    await anyio.wait_all_tasks_blocked()
    offsets = sorted(int(call.request.url.params["page[offset]"]) for call in route.calls)
    assert offsets in (list(range(0, 900, 100)), list(range(0, 1000, 100)))


async def test_prefetch_hands_each_page_out_as_it_arrives() -> None:
    """The third page answers only once the loop holds the second: pages are not held back.

    Fetched in windows, the second page would wait for the third, which
    waits for the loop: the walk would never end.
    """
    fake = FakeBSG(seed_contacts=75, duplicate_window=0)
    second_page_read = anyio.Event()

    async def on_response(response: httpx.Response) -> None:
        if response.request.url.params.get("page[offset]") == "30":
            await second_page_read.wait()

    got: list[int] = []
    with fake.serve() as server, anyio.fail_after(10):
        async with bsg_async.Client(
            DEFAULT_KEY, base_url=server.base_url, event_hooks={"response": [on_response]}
        ) as client:
            async for contact in client.contacts.list(page_size=15, prefetch=4):
                got.append(contact.id)
                if len(got) == 16:  # the first row of the second page
                    second_page_read.set()
    assert sorted(fake.contacts) == sorted(got)
    assert 75 == len(got)


async def test_prefetch_error_keeps_earlier_pages(
    client: bsg_async.Client, api: respx.MockRouter, clock: FakeClock
) -> None:
    """A failing page in a window: earlier pages are yielded, the error names its offset."""
    pages = Pages(1000)

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params["page[offset]"] == "300":
            return httpx.Response(500, json={"message": "Server Error"})
        return await pages(request)

    api.get("/contacts").mock(side_effect=answer)
    seen: list[int] = []
    with pytest.raises(bsg_async.ServerError) as info:
        async for contact in client.contacts.list(page_size=100, prefetch=4):
            seen.append(contact.id)
    assert (300, list(range(1, 301))) == (info.value.offset, seen)


async def test_prefetch_validated(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """prefetch must be 1..64 and concurrency 1..256."""
    with pytest.raises(bsg_async.InvalidRequestError):
        client.contacts.list(prefetch=0)
    with pytest.raises(bsg_async.InvalidRequestError):
        client.contacts.get_many([1], concurrency=0)
    assert 0 == len(api.calls)
