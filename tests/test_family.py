"""The rest of the Contacts family over respx: exact request shapes and chunking."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

import bsg_async
from bsg_async.models import ContactField, ContactFieldType, ContactList, StoplistEntry
from bsg_async.resources._base import chunk_query
from tests.helpers import contact_json

pytestmark = pytest.mark.anyio

LIST = {
    "id": 1864620,
    "name": "List 1",
    "description": "crm leads 2025 export",
    "default": False,
    "created_at": "2025-02-27 11:48:13",
    "items": 0,
    "stop_list_count": 0,
}
FIELD = {"id": 387714, "name": "Name", "type": "text", "description": "d", "is_visible": True}
ENTRY = {
    "id": 24142096,
    "phone": 38267168999,
    "created_at": "2025-03-27 09:05:57",
    "sms_stoplist": False,
    "viber_stoplist": True,
    "rcs_stoplist": False,
}


def bodies(route: respx.Route) -> list[Any]:
    return [json.loads(call.request.content) for call in route.calls]


def queries(route: respx.Route) -> list[list[tuple[str, str]]]:
    return [list(call.request.url.params.multi_items()) for call in route.calls]


# ------------------------------------------------------------------ contacts


async def test_delete_is_204(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """DELETE /contacts/{id} answering 204 returns None."""
    route = api.delete("/contacts/5").respond(204)
    await client.contacts.delete(5)
    assert 1 == route.call_count


async def test_delete_retry_finding_it_gone_is_success(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """A delete whose first answer was lost, then 422 on retry, counts as done."""
    route = api.delete("/contacts/5").mock(
        side_effect=[
            httpx.ReadError("reset"),
            httpx.Response(422, json={"message": "Invalid contact id"}),
        ]
    )
    await client.contacts.delete(5)
    assert 2 == route.call_count


async def test_delete_missing_is_not_found(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """A first-attempt 422 on delete is NotFoundError."""
    api.delete("/contacts/5").respond(422, json={"message": "Invalid contact id", "errors": []})
    with pytest.raises(bsg_async.NotFoundError):
        await client.contacts.delete(5)


@pytest.mark.parametrize(
    ("count", "chunks"), [(1, [1]), (5000, [5000]), (5001, [5000, 1]), (10001, [5000, 5000, 1])]
)
def test_chunk_query_caps_ids_at_5000(count: int, chunks: list[int]) -> None:
    """With room in the URL, a call carries at most 5,000 ids."""
    sizes = [len(c) for c in chunk_query(list(range(1, count + 1)), "contact_ids[]", 5000, 10**9)]
    assert chunks == sizes


def test_chunk_query_caps_url_length() -> None:
    """Each chunk's encoded query fits the character budget exactly."""
    ids = list(range(248_452_739, 248_452_739 + 1000))
    chunks = list(chunk_query(ids, "contact_ids[]", 5000, 8000))
    encoded = [len(str(httpx.QueryParams([("contact_ids[]", i) for i in c]))) for c in chunks]
    assert ids == [i for c in chunks for i in c]
    assert all(length <= 8000 for length in encoded)
    assert [285, 285, 285, 145] == [len(c) for c in chunks]


async def test_delete_many_sends_every_id_once(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """12,000 real-sized ids go out in order, none lost, every URL within budget."""
    route = api.post("/contacts/delete").respond(204)
    ids = list(range(248_452_739, 248_452_739 + 12_000))
    await client.contacts.delete_many(contact_ids=ids)
    sent = [int(v) for q in queries(route) for k, v in q if k == "contact_ids[]"]
    assert ids == sent
    assert all(len(call.request.url.query) <= 8000 for call in route.calls)


async def test_delete_many_by_lists(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """group_ids[] go in a call of their own."""
    route = api.post("/contacts/delete").respond(204)
    await client.contacts.delete_many(contact_ids=[7], group_ids=[1, 2])
    assert [[("contact_ids[]", "7")], [("group_ids[]", "1"), ("group_ids[]", "2")]] == queries(
        route
    )


async def test_delete_many_needs_ids(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """No ids at all is an InvalidRequestError, not a request."""
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.contacts.delete_many()
    assert 0 == len(api.calls)


async def test_search_uses_meta_total(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """search() sends search[...] parameters and pages by meta.page.total."""

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["page[offset]"])
        rows = [contact_json(i) for i in range(offset + 1, min(offset + 15, 20) + 1)]
        meta = {"page": {"limit": 15, "offset": offset, "total": 20}}
        return httpx.Response(200, json={"data": rows, "meta": meta})

    route = api.get("/contacts/search").mock(side_effect=answer)
    found = await client.contacts.search(
        field=388077, operator="like", value="Zuf", sort="phone", way="desc", page_size=15
    ).collect()
    assert list(range(1, 21)) == [c.id for c in found]
    assert [
        ("page[limit]", "15"),
        ("page[offset]", "0"),
        ("search[field]", "388077"),
        ("search[operator]", "like"),
        ("search[value]", "Zuf"),
        ("sort", "phone"),
        ("way", "desc"),
    ] == queries(route)[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"field": "name", "operator": "=", "value": "x"},
        {"field": "id", "operator": "~", "value": "x"},
        {"field": "id", "operator": "=", "value": None},
        {"field": "id", "operator": "=", "value": 1, "sort": "created_at"},
        {"field": "id", "operator": "=", "value": 1, "way": "up"},
        {"field": 0, "operator": "=", "value": 1},
    ],
)
async def test_search_rejects_bad_criteria(
    client: bsg_async.Client, api: respx.MockRouter, kwargs: dict[str, Any]
) -> None:
    """Unknown fields, operators, sorts and ways are refused before sending."""
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.contacts.search(**kwargs).collect()
    assert 0 == len(api.calls)


# --------------------------------------------------------------------- lists


async def test_lists_crud_shapes(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """create/get/update/delete on /groups send the spec's bodies and parse lists."""
    create = api.post("/groups").respond(201, json={"data": LIST})
    get = api.get("/groups/1864620").respond(200, json={"data": LIST})
    update = api.put("/groups/1864620").respond(200, json={"data": {**LIST, "name": "List 2"}})
    delete = api.delete("/groups/1864620").respond(204)
    created = await client.lists.create(name="List 1", description="crm leads 2025 export")
    assert isinstance(created, ContactList)
    assert (1864620, "List 1", False, 0) == (
        created.id,
        created.name,
        created.default,
        created.items,
    )
    assert created == await client.lists.get(1864620)
    assert "List 2" == (await client.lists.update(1864620, name="List 2")).name
    await client.lists.delete(1864620)
    assert [{"name": "List 1", "description": "crm leads 2025 export", "default": False}] == bodies(
        create
    )
    assert [{"name": "List 2"}] == bodies(update)
    assert (1, 1) == (get.call_count, delete.call_count)


async def test_list_create_duplicate_name(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """A duplicate list name is UnprocessableEntityError."""
    api.post("/groups").respond(422, json={"message": "Contact group is already exists"})
    with pytest.raises(bsg_async.UnprocessableEntityError, match="already exists"):
        await client.lists.create(name="List 1")


async def test_lists_list_and_search(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """GET /groups pages by total; search reads is_default as default."""
    api.get("/groups").respond(200, json={"data": [LIST], "total": 1})
    search = api.get("/groups/search").respond(
        200,
        json={
            "data": [
                {
                    "id": 1864618,
                    "name": "1111",
                    "description": None,
                    "is_default": True,
                    "items": 1001,
                    "created_at": "2025-02-19 14:50:21",
                }
            ],
            "meta": {"page": {"limit": 15, "offset": 0, "total": 1}},
        },
    )
    assert [1864620] == [g.id async for g in client.lists.list()]
    found = await client.lists.search(field="phone", operator="=", value=380965901726).collect()
    assert [(1864618, True, 1001)] == [(g.id, g.default, g.items) for g in found]
    assert ("search[value]", "380965901726") in queries(search)[0]


@pytest.mark.parametrize(
    ("contacts", "lists", "calls"),
    [(200, 1, 1), (201, 1, 2), (400, 100, 2), (1, 101, 2), (201, 101, 4)],
)
async def test_attach_chunks(
    client: bsg_async.Client, api: respx.MockRouter, contacts: int, lists: int, calls: int
) -> None:
    """attach splits into calls of <= 200 contacts x <= 100 lists covering every pair."""
    route = api.post("/groups/attach").respond(200, json={})
    await client.lists.attach(contact_ids=range(1, contacts + 1), list_ids=range(1, lists + 1))
    sent = bodies(route)
    assert calls == len(sent)
    pairs = {(c, g) for body in sent for c in body["contacts"] for g in body["groups"]}
    assert contacts * lists == len(pairs)
    assert all(len(b["contacts"]) <= 200 and len(b["groups"]) <= 100 for b in sent)


@pytest.mark.parametrize(("contacts", "calls"), [(20, 1), (21, 2), (200, 10)])
async def test_detach_chunks_at_20(
    client: bsg_async.Client, api: respx.MockRouter, contacts: int, calls: int
) -> None:
    """detach uses the stricter documented limit of 20 contacts per call."""
    route = api.post("/groups/detach").respond(200, json={})
    await client.lists.detach(contact_ids=range(1, contacts + 1), list_ids=[9])
    assert calls == route.call_count
    assert list(range(1, contacts + 1)) == [c for b in bodies(route) for c in b["contacts"]]


async def test_list_arguments_checked(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """Names outside 3..50 characters and empty attach calls send nothing."""
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.lists.create(name="ab")
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.lists.create(name="x" * 51)
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.lists.attach(contact_ids=[], list_ids=[1])
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.lists.create(name="valid", default=1)  # type: ignore[arg-type]
    assert 0 == len(api.calls)


# -------------------------------------------------------------------- fields


async def test_fields_operations(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """list/create/update/delete custom fields with the spec's shapes."""
    api.get("/contacts/fields").respond(200, json={"data": [FIELD]})
    create = api.post("/contacts/fields").respond(201, json={"data": FIELD})
    patch = api.patch("/contacts/fields/387714").respond(
        200, json={"data": {**FIELD, "is_visible": False}}
    )
    delete = api.post("/contacts/fields/delete").respond(204)
    expected = ContactField(
        id=387714, name="Name", type=ContactFieldType.TEXT, description="d", is_visible=True
    )
    assert [expected] == await client.fields.list()
    assert expected == await client.fields.create(name="Name", type="text")
    assert not (await client.fields.update(387714, is_visible=False)).is_visible
    await client.fields.delete(range(1, 62))
    assert [{"name": "Name", "type": "text", "is_visible": True}] == bodies(create)
    assert [{"is_visible": False}] == bodies(patch)
    assert [30, 30, 1] == [len(b["ids"]) for b in bodies(delete)]


async def test_field_arguments_checked(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """Bad field names/types and empty updates send nothing."""
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.fields.create(name="", type="text")
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.fields.create(name="Name", type="boolean")
    with pytest.raises(bsg_async.InvalidRequestError):
        await client.fields.update(1)
    assert 0 == len(api.calls)


# ------------------------------------------------------------------ stoplist


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
