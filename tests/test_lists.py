"""Contact lists over respx: exact request shapes and chunking."""

from __future__ import annotations

import pytest
import respx

import bsg_async
from bsg_async.models import ContactList
from tests.helpers import bodies, queries

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
