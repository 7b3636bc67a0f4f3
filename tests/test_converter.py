"""Parsing the API's answers into models: every documented shape, and bad ones."""

from __future__ import annotations

from datetime import datetime

import pytest

import bsg_async.models
from bsg_async import _converter
from bsg_async._converter import ShapeError, read_data, read_page
from bsg_async.models import Contact, ContactList, FieldValues, HlrStatus, Page, StoplistEntry
from tests.helpers import STOPLIST_SEED_PAGE, as_json, contact_json

# Without msgspec (`nox -s tests_minimal`) only the generic path exists.
PATHS = ["one-pass", "generic"] if _converter.ONE_PASS else ["generic"]


@pytest.fixture(autouse=True, params=PATHS)
def decode_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on both paths: msgspec's one pass, and the generic one."""
    if request.param == "generic":
        monkeypatch.setattr(_converter, "ONE_PASS", False)
    return str(request.param)


# The spec's "grouped" example of GET /contacts/{id}.
GROUPED = {
    "data": {
        "id": 248452739,
        "phone": 380965901726,
        "fields": {"388077": "Zufafa"},
        "groups": [
            {
                "id": 1864618,
                "name": "1111",
                "description": None,
                "default": False,
                "items": 0,
                "created_at": "2025-02-19 14:50:21",
                "stop_list_count": 0,
            }
        ],
        "hlr_status": "unknown",
        "hlr_last_check": None,
        "created_at": "2025-02-19 14:51:44",
    }
}


def test_spec_grouped_contact() -> None:
    """The spec's grouped contact parses into exact typed values."""
    expected = Contact(
        id=248452739,
        phone=380965901726,
        fields={388077: "Zufafa"},
        created_at=datetime(2025, 2, 19, 14, 51, 44),
        groups=(
            ContactList(
                id=1864618,
                name="1111",
                description=None,
                default=False,
                created_at=datetime(2025, 2, 19, 14, 50, 21),
                items=0,
                stop_list_count=0,
            ),
        ),
        hlr_status=HlrStatus.UNKNOWN,
        hlr_last_check=None,
    )
    assert expected == read_data(as_json(GROUPED), Contact)


def test_empty_fields_as_list_or_object() -> None:
    """`fields: []` (no values) and `fields: {}` both give an empty mapping."""
    empties: list[object] = [[], {}, None]
    for empty in empties:
        contact = read_data(
            as_json({"data": {"id": 1, "phone": 380971443455, "fields": empty}}), Contact
        )
        assert {} == contact.fields


def test_fields_as_id_value_pairs() -> None:
    """The seeds describe fields as [{id, value}] pairs: those parse too."""
    body = {"data": {"id": 1, "phone": 380971443455, "fields": [{"id": "7", "value": "A"}]}}
    assert {7: "A"} == read_data(as_json(body), Contact).fields


def test_seed_list_shapes() -> None:
    """The seed's group shapes: id as string, default as 0, items missing in PUT answers."""
    body = {
        "data": {
            "id": 1,
            "phone": 85267202829,
            "fields": {"25964": "TARAS SHEVCHENKO"},
            "created_at": "2022-04-28 14:21:16",
            "groups": [
                {
                    "id": "1",
                    "name": "string",
                    "description": "d",
                    "default": 0,
                    "created_at": "2022-04-28 14:21:16",
                }
            ],
            "hlr_status": "active",
            "hlr_last_check": "2022-04-28 14:21:16",
        }
    }
    contact = read_data(as_json(body), Contact)
    assert (1, False, None, None) == (
        contact.groups[0].id,
        contact.groups[0].default,
        contact.groups[0].items,
        contact.groups[0].stop_list_count,
    )
    assert datetime(2022, 4, 28, 14, 21, 16) == contact.hlr_last_check
    assert HlrStatus.ACTIVE is contact.hlr_status


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, False), (1, True), (True, True), (False, False), ("1", True), (None, False)],
)
def test_default_flag_forms(raw: object, expected: bool) -> None:
    """`default` documented as bool but shown as 0: every form reads as a bool."""
    assert (
        expected
        is read_data(
            as_json({"data": {"id": 3, "name": "abc", "default": raw}}), ContactList
        ).default
    )


def test_unknown_hlr_status_is_kept() -> None:
    """A status the API adds later is kept, not rejected."""
    contact = read_data(
        as_json({"data": {"id": 1, "phone": 123456789, "hlr_status": "ported"}}), Contact
    )
    assert "ported" == contact.hlr_status.value  # type: ignore[union-attr]
    assert isinstance(contact.hlr_status, HlrStatus)


def test_missing_optional_keys_are_none_and_unknown_keys_ignored() -> None:
    """Only id and phone are required; extra keys do not break parsing."""
    contact = read_data(
        as_json({"data": {"id": 5, "phone": 123456789, "brand_new": {"x": 1}}}), Contact
    )
    assert Contact(id=5, phone=123456789) == contact
    assert (None, None, (), {}) == (
        contact.created_at,
        contact.hlr_status,
        contact.groups,
        contact.fields,
    )


def test_stoplist_seed_page_with_string_total() -> None:
    """The stop-list seed: total as a string, phone as a number."""
    body = STOPLIST_SEED_PAGE
    expected = Page(
        items=(
            StoplistEntry(
                id=9392897,
                phone=85267202829,
                created_at=datetime(2022, 4, 18, 19, 22, 16),
                sms_stoplist=True,
                viber_stoplist=False,
                rcs_stoplist=None,
            ),
        ),
        offset=0,
        total=1,
    )
    assert expected == read_page(as_json(body), StoplistEntry, 0)


def test_phone_as_digit_string() -> None:
    """The stop-list seed types phone as a string: digits become an int."""
    body = {"data": [{"id": 1, "phone": "85267202829"}], "total": 1}
    assert 85267202829 == read_page(as_json(body), StoplistEntry, 0).items[0].phone


def test_search_answer_total_from_meta() -> None:
    """Search answers carry the total under meta.page.total."""
    body = {"data": [], "meta": {"page": {"limit": 15, "offset": 0, "total": 42}}}
    assert 42 == read_page(as_json(body), Contact, 0).total


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": [{"id": 1, "phone": "abc"}], "total": 1}, "$.data[0].phone"),
        ({"data": [{"id": 1}], "total": 1}, "$.data[0].phone"),
        ({"data": {"id": 1}, "total": 1}, "expected a list under 'data'"),
        ({"data": []}, "expected 'total' or 'meta.page.total'"),
        ({"data": [], "total": "many"}, "$.total"),
        ({"data": [], "total": -1}, "non-negative"),
        ([1, 2], "expected a JSON object with a 'data' key"),
        (None, "expected a JSON object with a 'data' key"),
        (
            {"data": [{"id": 1, "phone": 123456789, "fields": {"1": ["a"]}}], "total": 1},
            "$.data[0].fields",
        ),
        (
            {"data": [{"id": 1, "phone": 123456789, "created_at": "yesterday"}], "total": 1},
            "$.data[0].created_at",
        ),
    ],
)
def test_bad_shapes_say_where(body: object, message: str) -> None:
    """A wrong shape raises ShapeError naming the key that was wrong."""
    with pytest.raises(ShapeError, match=message.replace("$", r"\$").replace("[", r"\[")):
        read_page(as_json(body), Contact, 0)


def test_models_are_frozen_and_hashable() -> None:
    """Models cannot be changed in place and can be used in sets."""
    contact = Contact(id=1, phone=123456789, fields={1: "a"})
    with pytest.raises(AttributeError):
        contact.phone = 5  # type: ignore[misc]
    assert 1 == len({contact, Contact(id=1, phone=123456789, fields={1: "a"})})


def test_fields_are_field_values_with_typed_keys() -> None:
    """``fields`` decodes to a FieldValues dict on either path, numeric keys as ints."""
    body = {
        "data": [
            {"id": 1, "phone": 123456789, "fields": {"12": "a", "13": None, "14": 5}},
            {"id": 2, "phone": 123456780, "fields": []},
            {"id": 3, "phone": 123456781},
        ],
        "total": 3,
    }
    items = read_page(as_json(body), Contact, 0).items
    assert [{12: "a", 13: None, 14: "5"}, {}, {}] == [c.fields for c in items]
    assert [FieldValues] * 3 == [type(c.fields) for c in items]


# The "get a contact" seed page's example answer, as published.
SEED_GET_ANSWER = {
    "data": {
        "id": 1,
        "phone": 33601148802,
        "fields": {
            "additionalProp1": "string",
            "additionalProp2": "string",
            "additionalProp3": "string",
        },
        "created_at": "2022-04-28 14:21:16",
        "groups": [
            {
                "id": 1,
                "name": "string",
                "description": "string",
                "default": 0,
                "created_at": "2022-04-28 14:21:16",
            }
        ],
        "hlr_status": "string",
        "hlr_last_check": "2022-04-28 14:21:16",
    }
}


def test_seed_example_with_placeholder_field_keys_decodes() -> None:
    """Keys that are not numbers are kept as strings; numeric ones become ints."""
    contact = read_data(as_json(SEED_GET_ANSWER), Contact)
    assert {
        "additionalProp1": "string",
        "additionalProp2": "string",
        "additionalProp3": "string",
    } == contact.fields
    assert bsg_async.models.HlrStatus("string") == contact.hlr_status
    assert False is contact.groups[0].default


def test_odd_field_key_fails_neither_its_row_nor_the_page() -> None:
    """One contact with a non-numeric key in a page: every row decodes, keys typed."""
    rows = [
        {"id": n, "phone": 100_000_000 + n, "fields": {"387714": "a", "x-legacy": "b"}}
        for n in range(1, 4)
    ]
    rows.append({"id": 4, "phone": 100_000_004, "fields": []})
    page = read_page(as_json({"data": rows, "total": "4"}), Contact, offset=0)
    assert [{387714: "a", "x-legacy": "b"}] * 3 + [{}] == [c.fields for c in page.items]


@pytest.mark.parametrize("text", ["null", "NULL", "Null"])
def test_the_text_null_is_a_value_not_a_missing_one(text: str) -> None:
    """A status that reads "null" stays that text, on one contact and on a page
    (msgspec's lax mode alone would turn it into None)."""
    row = {**contact_json(7), "hlr_status": text}
    one = read_data(as_json({"data": row}), Contact)
    page = read_page(as_json({"data": [row, contact_json(8)], "total": 2}), Contact, 0)
    assert [text, text, "unknown"] == [
        one.hlr_status.value if one.hlr_status else None,
        *(c.hlr_status.value if c.hlr_status else None for c in page.items),
    ]


def test_a_field_type_that_reads_null_is_kept() -> None:
    """The same for the other optional enum, a custom field's type; a JSON null is None."""
    from bsg_async.models import ContactField  # noqa: PLC0415

    rows = [
        {"id": 1, "name": "A", "type": "NULL", "is_visible": True},
        {"id": 2, "name": "B", "type": None, "is_visible": True},
    ]
    fields = _converter.read_items(as_json({"data": rows}), ContactField)
    assert ["NULL", None] == [f.type.value if f.type else None for f in fields]
