"""Stop list: list, add, remove, search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsg_async.testing._protocol import (
    MAX_PHONE,
    MIN_PHONE,
    Call,
    Reply,
    invalid,
    json_reply,
    load_json,
    page_params,
    parse_id,
    read_int_list,
    search_rows,
)
from bsg_async.testing._state import STOPLIST_TYPES

if TYPE_CHECKING:
    from bsg_async.testing._emulator import FakeBSG

MAX_ADD = 1000
MAX_REMOVE = 200


def _types(value: object) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or any(not isinstance(kind, str) or kind not in STOPLIST_TYPES for kind in value)
    ):
        raise invalid("types", f"The types must be a list of {', '.join(STOPLIST_TYPES)}.")
    return value


def stoplist_list(fake: FakeBSG, call: Call) -> Reply:
    limit, offset = page_params(call, 20)
    # The seed pages name the filter ``types``, the spec ``type``: read both.
    kind = call.param("type") or call.param("types")
    if kind is not None and kind not in STOPLIST_TYPES:
        raise invalid("type", "The selected type is invalid.")
    rows = [e for e in fake.stoplist.values() if kind is None or e[kind]]
    page = [fake.stop_json(e) for e in rows[offset : offset + limit]]
    return json_reply(200, {"data": page, "total": len(rows)})


def stoplist_attach(fake: FakeBSG, call: Call) -> Reply:
    data = load_json(call.body)
    if not isinstance(data, dict):
        raise invalid("phones", "The phones and types are required.")
    phones = read_int_list(
        data.get("phones"), "phones", low=MIN_PHONE, high=MAX_PHONE, min_items=1, max_items=MAX_ADD
    )
    kinds = _types(data.get("types"))
    return json_reply(200, {"data": [fake.stop_json(fake.stop(p, kinds)) for p in phones]})


def stoplist_detach(fake: FakeBSG, call: Call) -> Reply:
    data = load_json(call.body)
    if not isinstance(data, dict):
        raise invalid("ids", "The ids and types are required.")
    ids = read_int_list(data.get("ids"), "ids", min_items=1, max_items=MAX_REMOVE)
    kinds = _types(data.get("types"))
    for entry_id in ids:
        fake.unstop(entry_id, kinds)
    return json_reply(200, {})


def stoplist_search(fake: FakeBSG, call: Call) -> Reply:
    rows = list(fake.stoplist.values())
    raw_group = call.param("contact_group_id")
    if raw_group is not None:
        group_id = parse_id(raw_group)
        if group_id is None:
            raise invalid("contact_group_id", "The contact_group_id must be an integer.")
        members = fake.groups[group_id]["members"] if group_id in fake.groups else set()
        phones = {fake.contacts[c]["phone"] for c in members}
        rows = [e for e in rows if e["phone"] in phones]
    getters = {
        "id": lambda e, _f: e["id"],
        "phone": lambda e, _f: e["phone"],
        "created_at": lambda e, _f: e["created_at"],
        "type": lambda e, _f: {k for k in STOPLIST_TYPES if e[k]},
    }
    page, meta = search_rows(call, rows, getters, {"id", "phone"})
    return json_reply(200, {"data": [fake.stop_json(e) for e in page], "meta": meta})
