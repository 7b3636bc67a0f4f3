"""Custom fields: list, create, update, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bsg_async.testing._protocol import (
    INVALID,
    ApiError,
    Call,
    Reply,
    invalid,
    json_reply,
    load_json,
    read_int_list,
    record_or_422,
)

if TYPE_CHECKING:
    from bsg_async.testing._state import Account

FIELD_TYPES = frozenset({"text", "date", "number"})
MAX_DELETE = 30


def _field_body(body: bytes, *, partial: bool) -> dict[str, Any]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise invalid("name", "The name is required.")
    errors: dict[str, list[str]] = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 30:
            errors["name"] = ["The name must be 1 to 30 characters."]
    if not partial:
        kind = data.get("type")
        if not isinstance(kind, str) or kind not in FIELD_TYPES:
            errors["type"] = ["The type must be text, date or number."]
    if "description" in data:
        description = data["description"]
        if not isinstance(description, str) or not 1 <= len(description) <= 255:
            errors["description"] = ["The description must be 1 to 255 characters."]
    if "is_visible" in data and not isinstance(data["is_visible"], bool):
        errors["is_visible"] = ["The is_visible field must be true or false."]
    if errors:
        raise ApiError(422, INVALID, errors)
    return data


def fields_list(account: Account, call: Call) -> Reply:
    del call
    return json_reply(200, {"data": [record.to_json() for record in account.fields.values()]})


def field_create(account: Account, call: Call) -> Reply:
    data = _field_body(call.body, partial=False)
    record = account.add_field(
        data["name"], data["type"], data.get("description"), is_visible=data.get("is_visible", True)
    )
    return json_reply(201, {"data": record.to_json()})


def field_update(account: Account, call: Call) -> Reply:
    record = record_or_422(account.fields, call.match["id"], "Contact field is not found")
    data = _field_body(call.body, partial=True)
    changes = {key: data[key] for key in ("name", "description", "is_visible") if key in data}
    return json_reply(200, {"data": account.update_field(record.id, **changes).to_json()})


def fields_delete(account: Account, call: Call) -> Reply:
    data = load_json(call.body)
    ids = read_int_list(
        data.get("ids") if isinstance(data, dict) else None,
        "ids",
        min_items=1,
        max_items=MAX_DELETE,
    )
    for field_id in ids:
        account.remove_field(field_id)
    return Reply(204)
