"""Models as plain JSON-ready data: to_dict() and bsg_async.to_jsonable()."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

import bsg_async
from bsg_async.models import Contact, ContactList, HlrStatus, Page, StoplistEntry

CONTACT = Contact(
    id=7,
    phone=61401629754,
    fields={387714: "Kyiv", "x-legacy": "b"},
    created_at=datetime(2025, 3, 10, 13, 53, 5),
    groups=(
        ContactList(
            id=1864618, name="Leads", default=False, created_at=datetime(2025, 2, 19, 14, 50, 21)
        ),
    ),
    hlr_status=HlrStatus("ported"),
    hlr_last_check=None,
)


def test_contact_to_dict_is_the_api_shape() -> None:
    """Datetimes as the API writes them, enums as values, field keys as strings."""
    assert {
        "id": 7,
        "phone": 61401629754,
        "fields": {"387714": "Kyiv", "x-legacy": "b"},
        "created_at": "2025-03-10 13:53:05",
        "groups": [
            {
                "id": 1864618,
                "name": "Leads",
                "description": None,
                "default": False,
                "created_at": "2025-02-19 14:50:21",
                "items": None,
                "stop_list_count": None,
            }
        ],
        "hlr_status": "ported",
        "hlr_last_check": None,
    } == CONTACT.to_dict()


def test_iso_datetimes_and_json_dumps() -> None:
    """iso=True gives ISO 8601; the result goes straight into json.dumps."""
    data = CONTACT.to_dict(iso=True)
    assert "2025-03-10T13:53:05" == data["created_at"]
    assert data == json.loads(json.dumps(data))


def test_pages_lists_and_entries() -> None:
    """A page, a list of models and a stop-list entry convert the same way."""
    entry = StoplistEntry(id=1, phone=61401629754, created_at=None, sms_stoplist=True)
    page = Page(items=(entry,), offset=0, total=1)
    expected_entry = {
        "id": 1,
        "phone": 61401629754,
        "created_at": None,
        "sms_stoplist": True,
        "viber_stoplist": False,
        "rcs_stoplist": None,
    }
    assert {"items": [expected_entry], "offset": 0, "total": 1} == page.to_dict()
    assert [expected_entry, expected_entry] == bsg_async.to_jsonable([entry, entry])


def test_unknown_objects_are_refused() -> None:
    """Something that is not a model, a container or a scalar: a TypeError naming it."""
    with pytest.raises(TypeError, match="does not know object objects"):
        bsg_async.to_jsonable(object())
