"""The stop list over respx: exact request shapes and chunking."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

import bsg_async
from bsg_async.models import StoplistEntry
from tests.helpers import STOPLIST_SEED_PAGE, bodies, queries, query_of

pytestmark = pytest.mark.anyio

ENTRY = {
    "id": 24142096,
    "phone": 38267168999,
    "created_at": "2025-03-27 09:05:57",
    "sms_stoplist": False,
    "viber_stoplist": True,
    "rcs_stoplist": False,
}


@pytest.mark.parametrize(("count", "calls"), [(1000, 1), (1001, 2)])
async def test_stoplist_add_chunks_at_1000(
    client: bsg_async.Client, api: respx.MockRouter, count: int, calls: int
) -> None:
    """add() posts <= 1,000 phones per call and returns every entry."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        rows = [{**ENTRY, "id": phone - 100_000_000, "phone": phone} for phone in body["phones"]]
        return httpx.Response(200, json={"data": rows})

    route = api.post("/stoplist/attach").mock(side_effect=answer)
    phones = list(range(100_000_001, 100_000_001 + count))
    entries = await client.stoplist.add(phones, types=["sms", "viber"])
    assert calls == route.call_count
    assert phones == [e.phone for e in entries]
    assert all(isinstance(e, StoplistEntry) for e in entries)
    assert {"phones": phones[:1000], "types": ["sms", "viber"]} == bodies(route)[0]


@pytest.mark.parametrize(("count", "calls"), [(200, 1), (201, 2)])
async def test_stoplist_remove_chunks_at_200(
    client: bsg_async.Client, api: respx.MockRouter, count: int, calls: int
) -> None:
    """remove() posts <= 200 entry ids per call."""
    route = api.post("/stoplist/detach").respond(200, json={})
    await client.stoplist.remove(range(1, count + 1))
    assert calls == route.call_count
    assert {"ids": list(range(1, 201)), "types": ["sms"]} == bodies(route)[0]


async def test_stoplist_search(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """search() reads the spec's example with meta.page.total."""
    route = api.get("/stoplist/search").respond(
        200, json={"data": [ENTRY], "meta": {"page": {"limit": 30, "offset": 0, "total": 1}}}
    )
    found = await client.stoplist.search(
        field="phone", operator="=", value="38267168999", contact_group_id=5
    ).collect()
    assert [(24142096, True)] == [(e.id, e.viber_stoplist) for e in found]
    assert ("contact_group_id", "5") in queries(route)[0]


async def test_stoplist_arguments_checked(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """Bad phones or types on add/remove send nothing."""
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.stoplist.add([123])
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.stoplist.add([61401629754], types=["email"])
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.stoplist.add([61401629754], types=[])
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.stoplist.remove([0])
    assert 0 == len(api.calls)


async def test_stoplist_sends_both_filter_names(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """The type filter goes out as `type` (spec) and `types` (seed)."""
    route = api.get("/stoplist").respond(200, json=STOPLIST_SEED_PAGE)
    entries = await client.stoplist.list(type="sms").collect()
    assert [
        ("page[limit]", "500"),
        ("page[offset]", "0"),
        ("type", "sms"),
        ("types", "sms"),
    ] == query_of(route)
    assert [(9392897, 85267202829, True, False)] == [
        (e.id, e.phone, e.sms_stoplist, e.viber_stoplist) for e in entries
    ]
    assert isinstance(entries[0], StoplistEntry)


async def test_stoplist_without_type(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """No type: no filter parameter at all."""
    route = api.get("/stoplist").respond(200, json={"data": [], "total": 0})
    assert [] == await client.stoplist.list().collect()
    assert [("page[limit]", "500"), ("page[offset]", "0")] == query_of(route)
