"""Contact lists ("groups"): list, get, create, update, delete, attach, detach, search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bsg_async.testing._protocol import (
    ApiError,
    Call,
    Reply,
    invalid,
    json_reply,
    load_json,
    page_params,
    read_int_list,
    record_or_422,
    search_rows,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from bsg_async.testing._records import ListRecord
    from bsg_async.testing._state import Account

MAX_CONTACTS = 200
MAX_GROUPS = 100
_UNSET = object()


def _group_or_422(account: Account, raw: str) -> ListRecord:
    return record_or_422(account.groups, raw, "Contact group is not found")


def _read_default(value: object) -> bool | None:
    # Documented as a nullable boolean; the API itself writes it as 0 or 1.
    if value is None or isinstance(value, bool):
        return value
    if type(value) is int and value in {0, 1}:
        return bool(value)
    raise invalid("default", "The default field must be true or false.")


def _group_body(account: Account, body: bytes, *, exclude: int | None = None) -> dict[str, Any]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise invalid("name", "The name is required.")
    name = data.get("name")
    if not isinstance(name, str) or not 3 <= len(name) <= 50:
        raise invalid("name", "The name must be 3 to 50 characters.")
    out: dict[str, Any] = {"name": name}
    description = data.get("description", _UNSET)
    if description is not _UNSET:
        if description is not None and (
            not isinstance(description, str) or not 1 <= len(description) <= 255
        ):
            raise invalid("description", "The description must be 1 to 255 characters.")
        out["description"] = description
    if "default" in data:
        out["default"] = _read_default(data["default"])
    if any(g.name == name and g.id != exclude for g in account.groups.values()):
        raise ApiError(422, "Contact group is already exists")
    return out


def groups_list(account: Account, call: Call) -> Reply:
    limit, offset = page_params(call, 50)
    rows = list(account.groups.values())
    page = [g.to_json() for g in rows[offset : offset + limit]]
    return json_reply(200, {"data": page, "total": len(rows)})


def group_create(account: Account, call: Call) -> Reply:
    data = _group_body(account, call.body)
    group = account.add_group(
        data["name"], data.get("description"), default=bool(data.get("default"))
    )
    return json_reply(201, {"data": group.to_json()})


def group_get(account: Account, call: Call) -> Reply:
    return json_reply(200, {"data": _group_or_422(account, call.match["id"]).to_json()})


def group_update(account: Account, call: Call) -> Reply:
    group = _group_or_422(account, call.match["id"])
    data = _group_body(account, call.body, exclude=group.id)
    changes: dict[str, Any] = {}
    if "description" in data:
        changes["description"] = data["description"]
    if "default" in data:
        changes["default"] = bool(data["default"])
    return json_reply(
        200, {"data": account.update_group(group.id, name=data["name"], **changes).to_json()}
    )


def group_delete(account: Account, call: Call) -> Reply:
    account.remove_group(_group_or_422(account, call.match["id"]).id)
    return Reply(204)


def _membership_body(account: Account, body: bytes) -> tuple[list[int], list[int]]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise invalid("contacts", "The contacts and groups are required.")
    contacts = read_int_list(data.get("contacts"), "contacts", min_items=1, max_items=MAX_CONTACTS)
    groups = read_int_list(data.get("groups"), "groups", min_items=1, max_items=MAX_GROUPS)
    if any(group_id not in account.groups for group_id in groups):
        raise ApiError(422, "Contact group is not found")
    if any(contact_id not in account.contacts for contact_id in contacts):
        raise ApiError(422, "Invalid contact id")
    return contacts, groups


def _change_membership(account: Account, call: Call, change: Callable[[int, int], None]) -> Reply:
    contacts, groups = _membership_body(account, call.body)
    for contact_id in contacts:
        for group_id in groups:
            change(contact_id, group_id)
    return json_reply(200, {})


def groups_attach(account: Account, call: Call) -> Reply:
    return _change_membership(account, call, account.join)


def groups_detach(account: Account, call: Call) -> Reply:
    return _change_membership(account, call, account.leave)


def groups_search(account: Account, call: Call) -> Reply:
    rows = [
        {**g.to_json(), "phones": {account.contacts[c].phone for c in g.members}}
        for g in account.groups.values()
    ]
    getters = {
        "id": lambda g, _f: g["id"],
        "name": lambda g, _f: g["name"],
        "description": lambda g, _f: g["description"],
        "items": lambda g, _f: g["items"],
        "created_at": lambda g, _f: g["created_at"],
        "phone": lambda g, _f: g["phones"],
    }
    sorts = {"id", "items", "name", "description", "created_at"}
    page, meta = search_rows(call, rows, getters, sorts)
    data = [
        {
            "id": g["id"],
            "name": g["name"],
            "description": g["description"],
            "is_default": g["default"],
            "items": g["items"],
            "created_at": g["created_at"],
        }
        for g in page
    ]
    return json_reply(200, {"data": data, "meta": meta})
