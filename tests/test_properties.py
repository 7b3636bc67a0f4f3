"""Property-based checks: bad arguments never reach the wire; good data round-trips."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bsg_async
from bsg_async._converter import read_data, read_page
from bsg_async.models import Contact, StoplistEntry
from tests.helpers import as_json

pytestmark = pytest.mark.anyio

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Recorder(httpx.AsyncBaseTransport):
    """Counts requests; answers like a server that accepts everything."""

    def __init__(self) -> None:
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return httpx.Response(500)


def bad_phone() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(max_value=99_999_999),
        st.integers(min_value=10**15),
        st.booleans(),
        # Text with no digit at all, or digits that are no phone.
        st.text(max_size=16).filter(lambda text: not any(ch.isdigit() for ch in text)),
        st.sampled_from(["12345678", "+0061401629754", "1" * 16, "++61401629754", "61 40x"]),
        st.floats(allow_nan=True),
        st.none(),
    )


def bad_id() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(max_value=0), st.text(max_size=5), st.floats(), st.none(), st.booleans()
    )


def bad_page_size() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(max_value=14),
        st.integers(min_value=501),
        st.text(max_size=3),
        st.floats(),
        st.booleans(),
    )


CALLS = {
    "create phone": lambda c, v: c.contacts.create(phone=v),
    "update phone": lambda c, v: c.contacts.update(1, phone=v),
    "stoplist add": lambda c, v: c.stoplist.add([v]),
}
ID_CALLS = {
    "get": lambda c, v: c.contacts.get(v),
    "delete": lambda c, v: c.contacts.delete(v),
    "update id": lambda c, v: c.contacts.update(v, phone=61401629754),
    "list get": lambda c, v: c.lists.get(v),
    "list delete": lambda c, v: c.lists.delete(v),
    "attach": lambda c, v: c.lists.attach(contact_ids=[v], list_ids=[1]),
    "detach": lambda c, v: c.lists.detach(contact_ids=[1], list_ids=[v]),
    "fields delete": lambda c, v: c.fields.delete([v]),
    "stoplist remove": lambda c, v: c.stoplist.remove([v]),
    "delete_many": lambda c, v: c.contacts.delete_many(contact_ids=[v]),
    "create groups": lambda c, v: c.contacts.create(phone=61401629754, groups=[v]),
    "list filter": lambda c, v: c.contacts.list(groups=[v]).collect(),
}
PAGE_CALLS = {
    "contacts": lambda c, v: c.contacts.list(page_size=v).collect(),
    "stoplist": lambda c, v: c.stoplist.list(page_size=v).collect(),
    "lists": lambda c, v: c.lists.list(page_size=v).collect(),
    "search": lambda c, v: c.contacts.search(
        field="id", operator="=", value=1, page_size=v
    ).collect(),
}


async def refused(call: Any, value: Any) -> None:
    recorder = Recorder()
    async with bsg_async.Client("live_k", transport=recorder, max_retries=0) as client:
        with pytest.raises(bsg_async.InvalidRequestError):
            await call(client, value)
    assert 0 == recorder.sent


@pytest.mark.parametrize("name", list(CALLS))
@SETTINGS
@given(value=bad_phone())
async def test_bad_phones_are_refused_before_sending(name: str, value: Any) -> None:
    """Any phone that is not an int of 9..15 digits: InvalidRequestError, nothing sent."""
    await refused(CALLS[name], value)


@pytest.mark.parametrize("name", list(ID_CALLS))
@SETTINGS
@given(value=bad_id())
async def test_bad_ids_are_refused_before_sending(name: str, value: Any) -> None:
    """Any id that is not an int >= 1: InvalidRequestError, nothing sent."""
    await refused(ID_CALLS[name], value)


@pytest.mark.parametrize("name", list(PAGE_CALLS))
@SETTINGS
@given(value=bad_page_size())
async def test_bad_page_sizes_are_refused(name: str, value: Any) -> None:
    """page_size outside 15..500: InvalidRequestError, nothing sent."""
    await refused(PAGE_CALLS[name], value)


@SETTINGS
@given(value=st.text(max_size=10).filter(lambda t: t not in {"sms", "viber", "rcs", "whatsapp"}))
async def test_bad_stoplist_types_are_refused(value: str) -> None:
    """Unknown stop-list types are refused for list, add and remove."""
    await refused(lambda c, v: c.stoplist.list(type=v).collect(), value)
    await refused(lambda c, v: c.stoplist.add([61401629754], types=[v]), value)
    await refused(lambda c, v: c.stoplist.remove([1], types=[v]), value)


@SETTINGS
@given(count=st.integers(min_value=101, max_value=300))
async def test_oversized_group_lists_are_refused(count: int) -> None:
    """More than 100 lists on one contact is refused before sending."""
    await refused(lambda c, v: c.contacts.create(phone=61401629754, groups=range(1, v + 1)), count)


DATETIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)
FIELDS = st.dictionaries(
    st.integers(min_value=1, max_value=10**9), st.text(max_size=20), max_size=5
)


@settings(max_examples=200, deadline=None)
@given(
    contact_id=st.integers(min_value=1, max_value=2**53),
    phone=st.integers(min_value=100_000_000, max_value=999_999_999_999_999),
    values=FIELDS,
    created=DATETIMES,
    checked=st.one_of(st.none(), DATETIMES),
    status=st.text(min_size=1, max_size=10),
    phone_as_text=st.booleans(),
)
def test_valid_contacts_round_trip(
    contact_id: int,
    phone: int,
    values: dict[int, str],
    created: datetime,
    checked: datetime | None,
    status: str,
    phone_as_text: bool,
) -> None:
    """Any valid contact as the API writes it parses to exactly those values."""
    body = {
        "data": {
            "id": contact_id,
            "phone": str(phone) if phone_as_text else phone,
            "fields": {str(k): v for k, v in values.items()} if values else [],
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "groups": [],
            "hlr_status": status,
            "hlr_last_check": None if checked is None else checked.strftime("%Y-%m-%d %H:%M:%S"),
        }
    }
    contact = read_data(as_json(body), Contact)
    assert (contact_id, phone, values, created, checked, status) == (
        contact.id,
        contact.phone,
        dict(contact.fields),
        contact.created_at,
        contact.hlr_last_check,
        contact.hlr_status.value if contact.hlr_status else None,
    )


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**9),
            st.integers(min_value=100_000_000, max_value=999_999_999_999_999),
            st.booleans(),
            st.booleans(),
        ),
        max_size=30,
    ),
    total_as_text=st.booleans(),
)
def test_valid_stoplist_pages_round_trip(
    rows: list[tuple[int, int, bool, bool]], total_as_text: bool
) -> None:
    """Stop-list pages parse to the same ids, phones, flags and total."""
    body = {
        "data": [
            {
                "id": i,
                "phone": p,
                "sms_stoplist": s,
                "viber_stoplist": v,
                "created_at": "2022-04-18 19:22:16",
            }
            for i, p, s, v in rows
        ],
        "total": str(len(rows)) if total_as_text else len(rows),
    }
    page = read_page(as_json(body), StoplistEntry, 0)
    assert rows == [(e.id, e.phone, e.sms_stoplist, e.viber_stoplist) for e in page.items]
    assert len(rows) == page.total
