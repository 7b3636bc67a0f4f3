"""Contacts over respx: exact request shapes, chunking and parsed answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

import bsg_async
from bsg_async.models import Contact, HlrStatus
from bsg_async.resources._base import chunk_query
from tests.helpers import contact_json, queries, query_of

pytestmark = pytest.mark.anyio


def body_of(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


async def test_get_sends_bearer_and_parses(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """get() sends the JWT as a standard Bearer header and returns a Contact."""
    route = api.get("/contacts/248452953").respond(200, json={"data": contact_json(248452953)})
    contact = await client.contacts.get(248452953)
    assert (
        Contact(
            id=248452953,
            phone=380000000000 + 248452953,
            created_at=contact.created_at,
            hlr_status=HlrStatus.UNKNOWN,
        )
        == contact
    )
    auth = route.calls[0].request.headers["authorization"]
    assert auth.startswith("Bearer ey")
    assert 1 == api["login"].call_count
    assert {"api_key": "live_s3cr3t_KEY_0123456789"} == body_of(api["login"])


async def test_create_body_matches_spec(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """create() posts phone, groups and fields as id/value pairs; 201 parses."""
    route = api.post("/contacts").respond(
        201, json={"data": contact_json(9, phone=61401629754, fields={"387714": "ALESHA POPOVICH"})}
    )
    contact = await client.contacts.create(
        phone=61401629754, groups=[1864618], fields={387714: "ALESHA POPOVICH"}
    )
    assert {
        "phone": 61401629754,
        "groups": [1864618],
        "fields": [{"id": 387714, "value": "ALESHA POPOVICH"}],
    } == body_of(route)
    assert {387714: "ALESHA POPOVICH"} == contact.fields
    assert "application/json" == route.calls[0].request.headers["content-type"]


async def test_create_minimal_body(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """With only a phone, the body is the spec's 'required' example."""
    route = api.post("/contacts").respond(201, json={"data": contact_json(9)})
    await client.contacts.create(phone=61401629754)
    assert {"phone": 61401629754} == body_of(route)


async def test_update_sends_only_given_parts(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """update() always sends phone; groups/fields only when given."""
    route = api.put("/contacts/5").respond(200, json={"data": contact_json(5)})
    await client.contacts.update(5, phone=61401629755)
    await client.contacts.update(5, phone=61401629755, groups=[], fields={1: "x"})
    assert {"phone": 61401629755} == body_of(route, 0)
    assert {"phone": 61401629755, "groups": [], "fields": [{"id": 1, "value": "x"}]} == body_of(
        route, 1
    )


async def test_missing_contact_is_not_found(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """The API's 422 "Invalid contact id" becomes NotFoundError with the details."""
    api.get("/contacts/77").respond(422, json={"message": "Invalid contact id", "errors": []})
    with pytest.raises(bsg_async.NotFoundError) as info:
        await client.contacts.get(77)
    assert (422, "Invalid contact id", []) == (
        info.value.status_code,
        info.value.message,
        info.value.errors,
    )


async def test_duplicate_phone_is_unprocessable(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """422 duplicate phone is UnprocessableEntityError and is not retried."""
    route = api.post("/contacts").respond(
        422, json={"message": "Phone number is already exist in contact book", "errors": []}
    )
    with pytest.raises(bsg_async.UnprocessableEntityError) as info:
        await client.contacts.create(phone=61401629754)
    assert "Phone number is already exist in contact book" == info.value.message
    assert not isinstance(info.value, bsg_async.NotFoundError)
    assert (1, False) == (route.call_count, info.value.may_have_been_applied)


async def test_list_query_is_bracketed(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """list() sends page[limit], page[offset] and repeated groups[]."""
    route = api.get("/contacts").respond(200, json={"data": [contact_json(1)], "total": 1})
    items = await client.contacts.list(groups=[1864618, 7], page_size=50).collect()
    assert [
        ("page[limit]", "50"),
        ("page[offset]", "0"),
        ("groups[]", "1864618"),
        ("groups[]", "7"),
    ] == query_of(route)
    assert [1] == [c.id for c in items]


INVALID_CALLS = [
    ("phone too short", lambda c: c.contacts.create(phone=12345678)),
    ("phone too long", lambda c: c.contacts.create(phone=10**15)),
    ("phone with a letter", lambda c: c.contacts.create(phone="6140162975x")),
    ("phone with a leading 0", lambda c: c.contacts.create(phone="061401629754")),
    ("phone as float", lambda c: c.contacts.create(phone=61401629754.0)),
    ("phone as bool", lambda c: c.contacts.create(phone=True)),
    ("group id 0", lambda c: c.contacts.create(phone=61401629754, groups=[0])),
    ("101 groups", lambda c: c.contacts.create(phone=61401629754, groups=range(1, 102))),
    ("field id 0", lambda c: c.contacts.create(phone=61401629754, fields={0: "x"})),
    ("field value int", lambda c: c.contacts.create(phone=61401629754, fields={1: 5})),
    ("fields as list", lambda c: c.contacts.create(phone=61401629754, fields=[1])),
    ("get id 0", lambda c: c.contacts.get(0)),
    ("get id negative", lambda c: c.contacts.get(-3)),
    ("get id str", lambda c: c.contacts.get("5")),
    ("update id 0", lambda c: c.contacts.update(0, phone=61401629754)),
    ("update bad phone", lambda c: c.contacts.update(5, phone=1)),
    ("page size 14", lambda c: c.contacts.list(page_size=14).collect()),
    ("page size 501", lambda c: c.contacts.list(page_size=501).collect()),
    ("negative offset", lambda c: c.contacts.list(offset=-1).collect()),
    ("negative limit", lambda c: c.contacts.list(limit=-1).collect()),
    ("groups as str", lambda c: c.contacts.list(groups="12").collect()),
    ("stop-list type", lambda c: c.stoplist.list(type="email").collect()),
    ("stop-list page size", lambda c: c.stoplist.list(page_size=10).collect()),
]


@pytest.mark.parametrize(("label", "call"), INVALID_CALLS, ids=[c[0] for c in INVALID_CALLS])
async def test_invalid_arguments_send_nothing(
    label: str, call: Any, client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """Each bad argument raises InvalidRequestError (a ValueError) before any request."""
    with pytest.raises(bsg_async.InvalidRequestError) as info:
        await call(client)
    assert isinstance(info.value, ValueError)
    assert 0 == len(api.calls)


async def test_limit_zero_sends_nothing(client: bsg_async.Client, api: respx.MockRouter) -> None:
    """limit=0 yields nothing without a request."""
    assert [] == await client.contacts.list(limit=0).collect()
    assert 0 == len(api.calls)


async def test_http_client_is_used_and_not_closed(api: respx.MockRouter) -> None:
    """A user's httpx.AsyncClient carries the requests and stays open after aclose()."""
    api.get("/contacts/1").respond(200, json={"data": contact_json(1)})
    async with httpx.AsyncClient() as mine:
        async with bsg_async.Client("live_k", http_client=mine) as client:
            assert 1 == (await client.contacts.get(1)).id
        assert client.is_closed
        assert not mine.is_closed


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
