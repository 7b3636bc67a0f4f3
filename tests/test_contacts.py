"""Contacts and stop list over respx: exact request shapes and parsed answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

import bsg_async
from bsg_async.models import Contact, HlrStatus, StoplistEntry
from tests.helpers import contact_json

pytestmark = pytest.mark.anyio


def body_of(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def query_of(route: respx.Route, index: int = -1) -> list[tuple[str, str]]:
    return list(route.calls[index].request.url.params.multi_items())


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


async def test_stoplist_sends_both_filter_names(
    client: bsg_async.Client, api: respx.MockRouter
) -> None:
    """The type filter goes out as `type` (spec) and `types` (seed)."""
    route = api.get("/stoplist").respond(
        200,
        json={
            "data": [
                {
                    "id": 9392897,
                    "phone": 85267202829,
                    "created_at": "2022-04-18 19:22:16",
                    "sms_stoplist": True,
                    "viber_stoplist": False,
                }
            ],
            "total": "1",
        },
    )
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
