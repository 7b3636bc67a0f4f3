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
from bsg_async.testing._records import STOPLIST_TYPES

if TYPE_CHECKING:
    from bsg_async.testing._state import Account

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


def stoplist_list(account: Account, call: Call) -> Reply:
    limit, offset = page_params(call, 20)
    # The seed pages name the filter ``types``, the spec ``type``: read both.
    kind = call.param("type") or call.param("types")
    if kind is not None and kind not in STOPLIST_TYPES:
        raise invalid("type", "The selected type is invalid.")
    rows = [e for e in account.stoplist.values() if kind is None or kind in e.on]
    page = [e.to_json() for e in rows[offset : offset + limit]]
    return json_reply(200, {"data": page, "total": len(rows)})


def stoplist_attach(account: Account, call: Call) -> Reply:
    data = load_json(call.body)
    if not isinstance(data, dict):
        raise invalid("phones", "The phones and types are required.")
    phones = read_int_list(
        data.get("phones"), "phones", low=MIN_PHONE, high=MAX_PHONE, min_items=1, max_items=MAX_ADD
    )
    kinds = _types(data.get("types"))
    return json_reply(200, {"data": [account.stop(p, kinds).to_json() for p in phones]})


def stoplist_detach(account: Account, call: Call) -> Reply:
    data = load_json(call.body)
    if not isinstance(data, dict):
        raise invalid("ids", "The ids and types are required.")
    ids = read_int_list(data.get("ids"), "ids", min_items=1, max_items=MAX_REMOVE)
    kinds = _types(data.get("types"))
    for entry_id in ids:
        account.unstop(entry_id, kinds)
    return json_reply(200, {})


def stoplist_search(account: Account, call: Call) -> Reply:
    rows = list(account.stoplist.values())
    raw_group = call.param("contact_group_id")
    if raw_group is not None:
        group_id = parse_id(raw_group)
        if group_id is None:
            raise invalid("contact_group_id", "The contact_group_id must be an integer.")
        members = account.groups[group_id].members if group_id in account.groups else set()
        phones = {account.contacts[c].phone for c in members}
        rows = [e for e in rows if e.phone in phones]
    getters = {
        "id": lambda e, _f: e.id,
        "phone": lambda e, _f: e.phone,
        "created_at": lambda e, _f: e.created_at,
        "type": lambda e, _f: e.on,
    }
    page, meta = search_rows(call, rows, getters, {"id", "phone"})
    return json_reply(200, {"data": [e.to_json() for e in page], "meta": meta})
