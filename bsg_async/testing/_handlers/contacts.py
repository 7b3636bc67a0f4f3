"""Contacts: list, get, create, update, delete, bulk delete, search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsg_async.testing._protocol import (
    INVALID,
    MAX_PHONE,
    MIN_PHONE,
    ApiError,
    Call,
    Reply,
    invalid,
    json_reply,
    load_json,
    page_params,
    parse_id,
    read_int,
    record_or_422,
    search_rows,
)

if TYPE_CHECKING:
    from bsg_async.testing._records import ContactRecord
    from bsg_async.testing._state import Account

MAX_GROUPS = 100
MAX_BULK_DELETE = 5000


def _contact_or_422(account: Account, raw: str) -> ContactRecord:
    return record_or_422(account.contacts, raw, "Invalid contact id")


def _group_ids(account: Account, value: object) -> list[int]:
    """``groups`` of a request: ids, or list objects with an ``id`` (the spec's schema)."""
    if not isinstance(value, list) or len(value) > MAX_GROUPS:
        raise invalid("groups", f"The groups must be an array of at most {MAX_GROUPS} items.")
    ids = []
    for n, item in enumerate(value):
        raw = item.get("id") if isinstance(item, dict) else item
        group_id = read_int(raw, f"groups.{n}")
        if group_id not in account.groups:
            raise ApiError(422, "Contact group is not found")
        ids.append(group_id)
    return ids


def _field_values(account: Account, value: object) -> dict[int, str]:
    if not isinstance(value, list):
        raise invalid("fields", "The fields must be an array.")
    values: dict[int, str] = {}
    for n, pair in enumerate(value):
        if not isinstance(pair, dict):
            raise invalid(f"fields.{n}", "Each field must be an object with id and value.")
        field_id = read_int(pair.get("id"), f"fields.{n}.id")
        if field_id not in account.fields:
            raise ApiError(422, "Contact field is not found")
        text = pair.get("value", "")
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise invalid(f"fields.{n}.value", "The value must be a string.")
        values[field_id] = str(text)
    return values


def _contact_body(
    account: Account, body: bytes, *, exclude: int | None = None
) -> tuple[int, list[int] | None, dict[int, str] | None]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise invalid("phone", "The phone is required.")
    if "phone" not in data or data["phone"] is None:
        raise invalid("phone", "The phone is required.")
    phone = data["phone"]
    if isinstance(phone, bool) or not isinstance(phone, int) or not MIN_PHONE <= phone <= MAX_PHONE:
        # The message BSG's spec names for this case (create and update).
        raise ApiError(
            422, "Invalid phone number format", {"phone": ["The phone must be 9 to 15 digits."]}
        )
    owner = account.contact_by_phone(phone)
    if owner is not None and owner != exclude:
        raise ApiError(422, "Phone number is already exist in contact book")
    groups = _group_ids(account, data["groups"]) if "groups" in data else None
    values = _field_values(account, data["fields"]) if "fields" in data else None
    return phone, groups, values


def contacts_list(account: Account, call: Call) -> Reply:
    limit, offset = page_params(call, 20)
    wanted = set()
    for raw in call.values("groups[]", "groups"):
        group_id = parse_id(raw)
        if group_id is None:
            raise invalid("groups", "The groups must be integers.")
        wanted.add(group_id)
    if wanted:
        groups = account.groups
        members = set().union(*(groups[g].members for g in wanted if g in groups))
        rows = [c for c in account.contacts.values() if c.id in members]
    else:
        rows = list(account.contacts.values())
    page = rows[offset : offset + limit]
    lists = account.lists_view(page)
    return json_reply(200, {"data": [c.to_json(lists) for c in page], "total": len(rows)})


def contact_get(account: Account, call: Call) -> Reply:
    contact = _contact_or_422(account, call.match["id"])
    return json_reply(200, {"data": account.contact_json(contact)})


def contact_create(account: Account, call: Call) -> Reply:
    phone, groups, values = _contact_body(account, call.body)
    contact_id = account.add_contact(phone, groups or [], values or {})
    return json_reply(201, {"data": account.contact_json(account.contacts[contact_id])})


def contact_update(account: Account, call: Call) -> Reply:
    contact = _contact_or_422(account, call.match["id"])
    phone, groups, values = _contact_body(account, call.body, exclude=contact.id)
    account.update_contact(contact.id, phone=phone, groups=groups or (), values=values)
    # PUT answers embed lists without items/stop_list_count (as documented).
    return json_reply(200, {"data": contact.to_json(account.lists_view([contact], counts=False))})


def contact_delete(account: Account, call: Call) -> Reply:
    account.remove_contact(_contact_or_422(account, call.match["id"]).id)
    return Reply(204)


def contacts_delete(account: Account, call: Call) -> Reply:
    ids: dict[str, list[int]] = {"contact_ids": [], "group_ids": []}
    for name, found in ids.items():
        for raw in call.values(f"{name}[]"):
            value = parse_id(raw)
            if value is None:
                raise invalid(name, f"The {name} must be integers.")
            found.append(value)
    if not ids["contact_ids"] and not ids["group_ids"]:
        raise invalid("contact_ids", "contact_ids or group_ids is required.")
    if len(ids["contact_ids"]) > MAX_BULK_DELETE:
        raise ApiError(422, INVALID, {"contact_ids": [f"At most {MAX_BULK_DELETE} contact ids."]})
    doomed = set(ids["contact_ids"])
    for group_id in ids["group_ids"]:
        if group_id in account.groups:
            doomed.update(account.groups[group_id].members)
    for contact_id in doomed:
        if contact_id in account.contacts:
            account.remove_contact(contact_id)
    return Reply(204)


def _custom_value(contact: ContactRecord, name: str) -> object:
    field_id = parse_id(name)
    return None if field_id is None else contact.fields.get(field_id)


def contacts_search(account: Account, call: Call) -> Reply:
    getters = {
        "id": lambda c, _f: c.id,
        "phone": lambda c, _f: c.phone,
        "created_at": lambda c, _f: c.created_at,
        "group_id": lambda c, _f: c.groups,
        "*": _custom_value,
    }
    rows = list(account.contacts.values())
    page, meta = search_rows(call, rows, getters, {"id", "phone"}, field_ids=True)
    lists = account.lists_view(page, counts=False)
    return json_reply(200, {"data": [c.to_json(lists) for c in page], "meta": meta})
