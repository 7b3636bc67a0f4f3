"""The emulator against the spec, spoken to with raw httpx (no SDK parsing)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bsg_async.testing import DEFAULT_KEY, FakeBSG, Faults

pytestmark = pytest.mark.anyio

API = "http://bsg-emulator.localhost/api"


class Raw:
    """A raw httpx client logged in to an emulator."""

    def __init__(self, fake: FakeBSG, http: httpx.AsyncClient) -> None:
        self.fake = fake
        self.http = http
        self.token = ""

    async def login(self) -> None:
        answer = await self.http.post(f"{API}/auth/login", json={"api_key": DEFAULT_KEY})
        assert 200 == answer.status_code
        self.token = answer.json()["bearer"]

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return await self.http.request(method, f"{API}{path}", headers=headers, **kwargs)


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    fake = FakeBSG(duplicate_window=1.0)
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        client = Raw(fake, http)
        await client.login()
        yield client


async def test_login_and_refresh(raw: Raw) -> None:
    """A wrong key is 401; refresh gives a new token and retires the old one."""
    bad = await raw.http.post(f"{API}/auth/login", json={"api_key": "live_wrong"})
    assert (401, {"message": "Invalid api key"}) == (bad.status_code, bad.json())
    old = raw.token
    refreshed = await raw.call("POST", "/auth/refresh")
    assert 200 == refreshed.status_code
    raw.token = refreshed.json()["bearer"]
    assert 200 == (await raw.call("GET", "/contacts")).status_code
    raw.token = old
    assert 401 == (await raw.call("GET", "/contacts")).status_code
    assert (1, 1) == (raw.fake.stats["logins"], raw.fake.stats["refreshes"])


async def test_missing_and_expired_tokens(raw: Raw) -> None:
    """No token, a forged token and an expired token all answer 401 Unauthenticated."""
    assert 401 == (await raw.http.get(f"{API}/contacts")).status_code
    forged = raw.token[:-4] + "AAAA"
    answer = await raw.http.get(f"{API}/contacts", headers={"Authorization": f"Bearer {forged}"})
    assert 401 == answer.status_code
    raw.fake.advance(3601)
    expired = await raw.call("GET", "/contacts")
    assert (401, {"message": "Unauthenticated."}) == (expired.status_code, expired.json())


async def test_contact_lifecycle_matches_spec(raw: Raw) -> None:
    """Create 201, fields [] when empty and an object otherwise, 422s as documented."""
    field = await raw.call("POST", "/contacts/fields", json={"name": "Name", "type": "text"})
    field_id = field.json()["data"]["id"]
    group = await raw.call("POST", "/groups", json={"name": "1111"})
    group_id = group.json()["data"]["id"]
    plain = await raw.call("POST", "/contacts", json={"phone": 61401629754})
    assert 201 == plain.status_code
    assert [] == plain.json()["data"]["fields"]
    assert [] == plain.json()["data"]["groups"]
    assert "unknown" == plain.json()["data"]["hlr_status"]
    assert None is plain.json()["data"]["hlr_last_check"]
    full = await raw.call(
        "POST",
        "/contacts",
        json={
            "phone": 61401629755,
            "groups": [group_id],
            "fields": [{"id": field_id, "value": "ALESHA POPOVICH"}],
        },
    )
    data = full.json()["data"]
    assert {str(field_id): "ALESHA POPOVICH"} == data["fields"]
    assert {
        "id",
        "name",
        "description",
        "default",
        "created_at",
        "items",
        "stop_list_count",
    } == set(data["groups"][0])
    duplicate = await raw.call("POST", "/contacts", json={"phone": 61401629754, "groups": []})
    assert (422, {"message": "Phone number is already exist in contact book", "errors": []}) == (
        duplicate.status_code,
        duplicate.json(),
    )
    missing = await raw.call("GET", "/contacts/1")
    assert (422, {"message": "Invalid contact id", "errors": []}) == (
        missing.status_code,
        missing.json(),
    )
    updated = await raw.call("PUT", f"/contacts/{data['id']}", json={"phone": 61401629756})
    assert 200 == updated.status_code
    assert "items" not in updated.json()["data"]["groups"][0]
    assert 204 == (await raw.call("DELETE", f"/contacts/{data['id']}")).status_code


async def test_paging_limits_and_total(raw: Raw) -> None:
    """page[limit] must be 15..500; total is the current count; groups[] filters."""
    raw.fake.seed_contacts(40)
    for limit in ("14", "501", "x"):
        answer = await raw.call("GET", "/contacts", params={"page[limit]": limit})
        assert 422 == answer.status_code
    page = await raw.call("GET", "/contacts", params={"page[limit]": "15", "page[offset]": "30"})
    assert (10, 40) == (len(page.json()["data"]), page.json()["total"])
    group_id = next(iter(raw.fake.groups))
    other = await raw.call("POST", "/groups", json={"name": "empty list"})
    filtered = await raw.call(
        "GET", "/contacts", params=[("page[limit]", "15"), ("groups[]", other.json()["data"]["id"])]
    )
    assert 0 == filtered.json()["total"]
    both = await raw.call("GET", "/contacts", params=[("groups[]", group_id), ("groups[]", 1)])
    assert 40 == both.json()["total"]


async def test_invalid_phone_and_field_without_description_answer_as_the_spec_says(
    raw: Raw,
) -> None:
    """A bad phone: 422 "Invalid phone number format"; a field made without one: no description."""
    created = await raw.call("POST", "/contacts", json={"phone": 61401629754})
    contact_id = created.json()["data"]["id"]
    for method, path in (("POST", "/contacts"), ("PUT", f"/contacts/{contact_id}")):
        answer = await raw.call(method, path, json={"phone": 123})
        assert (422, "Invalid phone number format") == (
            answer.status_code,
            answer.json()["message"],
        )
    missing = await raw.call("POST", "/contacts", json={})
    assert "The given data was invalid." == missing.json()["message"]
    field = await raw.call("POST", "/contacts/fields", json={"name": "City", "type": "text"})
    assert "description" not in field.json()["data"]
    listed = await raw.call("GET", "/contacts/fields")
    assert ["description" in f for f in listed.json()["data"]] == [False]


async def test_duplicate_post_is_429(raw: Raw) -> None:
    """An identical POST within the window answers the documented 429."""
    body = {"name": "twice"}
    assert 201 == (await raw.call("POST", "/groups", json=body)).status_code
    again = await raw.call("POST", "/groups", json=body)
    assert (429, {"message": "Too many duplicate request detected"}) == (
        again.status_code,
        again.json(),
    )
    raw.fake.advance(1.5)
    late = await raw.call("POST", "/groups", json=body)
    assert (422, "Contact group is already exists") == (late.status_code, late.json()["message"])


async def test_stoplist_attach_list_detach(raw: Raw) -> None:
    """attach answers entries; type and types both filter; detach by entry id."""
    added = await raw.call(
        "POST", "/stoplist/attach", json={"phones": [38267168999, 38267168998], "types": ["viber"]}
    )
    entries = added.json()["data"]
    assert {"id", "phone", "created_at", "sms_stoplist", "viber_stoplist", "rcs_stoplist"} == set(
        entries[0]
    )
    for name in ("type", "types"):
        sms = await raw.call("GET", "/stoplist", params={name: "sms"})
        viber = await raw.call("GET", "/stoplist", params={name: "viber"})
        assert (0, 2) == (sms.json()["total"], viber.json()["total"])
    await raw.call("POST", "/stoplist/detach", json={"ids": [entries[0]["id"]], "types": ["viber"]})
    assert 1 == (await raw.call("GET", "/stoplist")).json()["total"]


async def test_search_answer_shape(raw: Raw) -> None:
    """Search answers carry meta.page and meta.search like the spec's example."""
    raw.fake.seed_contacts(20)
    phone = next(iter(raw.fake.contacts.values()))["phone"]
    answer = await raw.call(
        "GET",
        "/contacts/search",
        params={
            "search[field]": "phone",
            "search[operator]": "=",
            "search[value]": str(phone),
            "page[limit]": "15",
        },
    )
    body = answer.json()
    assert [phone] == [c["phone"] for c in body["data"]]
    assert {"limit": 15, "offset": 0, "total": 1} == body["meta"]["page"]
    assert {"field": "phone", "operator": "=", "value": str(phone)} == body["meta"]["search"]


async def test_faults_are_deterministic_and_counted() -> None:
    """The same seed gives the same faults; counters record what was injected."""

    async def statuses(seed: int) -> list[int]:
        fake = FakeBSG(seed_contacts=5, faults=Faults(error_500=0.3, error_502_html=0.2, seed=seed))
        raw_client = Raw(fake, httpx.AsyncClient(transport=fake.transport()))
        async with raw_client.http:
            await raw_client.login()
            return [(await raw_client.call("GET", "/contacts")).status_code for _ in range(50)]

    first = await statuses(4)
    assert first == await statuses(4)
    assert first != await statuses(5)
    assert {200, 500, 502} == set(first)


async def test_seeded_data_is_deterministic() -> None:
    """Seeding N contacts with the same seed gives the same phones and names."""
    one, two = FakeBSG(seed_contacts=50, seed=3), FakeBSG(seed_contacts=50, seed=3)
    assert [c["phone"] for c in one.contacts.values()] == [
        c["phone"] for c in two.contacts.values()
    ]
    assert 50 == len({c["phone"] for c in one.contacts.values()})
    assert json.dumps([c["fields"] for c in one.contacts.values()]) == json.dumps(
        [c["fields"] for c in two.contacts.values()]
    )


def test_records_are_typed_and_changed_by_the_account() -> None:
    """The emulator holds an account of typed records; tests set state up through it."""
    fake = FakeBSG()
    account = fake.account
    field = account.add_field("City", "text", None, is_visible=True)
    group = account.add_group("Leads", None, default=False)
    contact_id = account.add_contact(61401629754, [group.id], {field.id: "Perth"})
    contact = fake.contacts[contact_id]
    # Attributes, and the item reads tests written for dict records use.
    assert (61401629754, 61401629754, [group.id]) == (
        contact.phone,
        contact["phone"],
        contact.groups,
    )
    entry = account.stop(61401629754, ["viber"])
    assert (True, False) == (entry["viber"], entry["sms"])
    assert {"id": field.id, "name": "City", "type": "text", "is_visible": True} == field.to_json()
    assert (1, 1) == (group.to_json()["items"], group.to_json()["stop_list_count"])
    account.update_contact(contact_id, phone=61401629755, values={field.id: "Hobart"})
    assert {"stop_list_count": 0, "items": 1} == {
        key: group.to_json()[key] for key in ("stop_list_count", "items")
    }
    shown = account.contact_json(contact)
    assert (61401629755, {str(field.id): "Hobart"}, "Leads") == (
        shown["phone"],
        shown["fields"],
        shown["groups"][0]["name"],
    )
    with pytest.raises(KeyError):
        contact["no_such_field"]
