"""Custom fields over respx: exact request shapes."""

from __future__ import annotations

import pytest
import respx

import bsg_async
from bsg_async.models import ContactField, ContactFieldType
from tests.helpers import bodies

pytestmark = pytest.mark.anyio

FIELD = {"id": 387714, "name": "Name", "type": "text", "description": "d", "is_visible": True}


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
