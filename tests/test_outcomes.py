"""Every reported create outcome is the truth, over loopback sockets on asyncio and trio.

The rule (README, "Exactly once"): a ``Contact`` result means this call's
request put the contact in the book; every other row gets an error saying
why. "Applied late" is made exact with ``FakeBSG.hold_next``: the create is
received but changes nothing until the client's lookup has been answered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG

pytestmark = pytest.mark.anyio

A, B = 61_401_629_754, 61_401_629_755


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG().serve() as running:
        yield running


def client_for(server: EmulatorServer, **options: object) -> bsg_async.Client:
    return bsg_async.Client(
        DEFAULT_KEY,
        base_url=server.base_url,
        retry_backoff=0.0,
        trust_env=False,
        **options,  # type: ignore[arg-type]
    )


def stored(fake: FakeBSG, phone: int) -> list[int]:
    """Ids of the contacts in the book with this phone."""
    return [c["id"] for c in fake.contacts.values() if c["phone"] == phone]


@pytest.mark.parametrize(
    ("window", "refusal", "logged"),
    [
        (0.0, "status:422", "the re-send was refused as existing"),
        (1.0, "status:429", "the re-send was refused as a duplicate"),
    ],
    ids=["422-exists", "429-duplicate"],
)
async def test_create_applied_after_the_client_gave_up_and_looked_is_its_contact(
    window: float, refusal: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Timeout, lookup (nothing yet), then the first create lands; the re-send's refusal is settled.

    With BSG's duplicate detection on, the re-send is refused as a duplicate
    (429); with it off, as "already exists" (422). Either way: the Contact.
    """
    fake = FakeBSG(duplicate_window=window)
    fake.hold_next("contact_create", until="contacts_search")
    with fake.serve() as served:
        async with client_for(served, timeout=0.5) as client:
            with caplog.at_level(logging.INFO, logger="bsg_async"):
                contact = await client.contacts.create(phone=A)
    assert [contact.id] == stored(fake, A)
    assert (2, 2, 1) == (
        fake.stats["route:contact_create"],
        fake.stats["route:contacts_search"],
        fake.stats[refusal],
    )
    assert logged in caplog.text


async def test_repeated_phones_are_sent_once_and_named(served: EmulatorServer) -> None:
    """[a, a, a, b, b] with b already in the book: one POST per phone, each row told why."""
    fake = served.fake
    async with client_for(served) as client:
        before = await client.contacts.create(phone=B)
        fake.advance(2.0)  # past BSG's one-second duplicate-request window
        rows: list[dict[str, object]] = [
            {"phone": A},
            {"phone": A},
            {"phone": str(A)},
            {"phone": B},
            {"phone": f"+{B}"},
        ]
        results = await client.contacts.create_many(rows, return_exceptions=True).collect()
    assert isinstance(results[0], bsg_async.Contact)
    assert [results[0].id] == stored(fake, A)
    for index in (1, 2):
        error = results[index]
        assert isinstance(error, bsg_async.DuplicateInputError)
        assert (index, 0, A) == (error.index, error.first, error.key)
    assert isinstance(results[3], bsg_async.UnprocessableEntityError)
    assert "already exist" in results[3].message
    repeat = results[4]
    assert isinstance(repeat, bsg_async.DuplicateInputError)
    assert (4, 3) == (repeat.index, repeat.first)
    assert str(repeat) == f"item 4 repeats item 3 ({B}): not sent; item 3 carries the outcome"
    assert [before.id] == stored(fake, B)
    assert 1 + 2 == fake.stats["route:contact_create"]


async def test_a_repeat_without_return_exceptions_is_a_bulk_error(
    served: EmulatorServer,
) -> None:
    """Without return_exceptions the first repeat stops the call with its index."""
    async with client_for(served) as client:
        bulk = client.contacts.create_many([{"phone": A}, {"phone": B}, {"phone": A}])
        with pytest.raises(bsg_async.BulkError) as info:
            await bulk.collect()
    assert 2 == info.value.index
    assert isinstance(info.value.cause, bsg_async.DuplicateInputError)
    assert 2 == served.fake.stats["route:contact_create"]


async def test_list_created_late_is_this_calls_list(served: EmulatorServer) -> None:
    """lists.create follows the same rule: a late apply settled by a lookup of the name."""
    fake = served.fake
    fake.hold_next("group_create", until="groups_search")
    async with client_for(served, timeout=0.5) as client:
        created = await client.lists.create(name="Weekly")
        with pytest.raises(bsg_async.UnprocessableEntityError, match="already exists"):
            fake.advance(2.0)  # past the duplicate window
            await client.lists.create(name="Weekly")
    assert [created.id] == [g["id"] for g in fake.groups.values() if g["name"] == "Weekly"]
    assert 3 == fake.stats["route:group_create"]


async def test_the_readme_pattern_for_failed_rows_type_checks_and_runs(
    served: EmulatorServer,
) -> None:
    """`if isinstance(result, BSGError): ... else: result.id` (mypy --strict checks this file)."""
    async with client_for(served) as client:
        rows = [bsg_async.NewContact(phone=A), bsg_async.NewContact(phone=A)]
        created: list[int] = []
        rejected: list[str] = []
        async for result in client.contacts.create_many(rows, return_exceptions=True):
            if isinstance(result, bsg_async.BSGError):
                rejected.append(type(result).__name__)
            else:
                created.append(result.id)
    assert (stored(served.fake, A), ["DuplicateInputError"]) == (created, rejected)


async def test_a_bug_is_not_handed_out_as_a_row_error(served: EmulatorServer) -> None:
    """return_exceptions yields the SDK's errors only; anything else stops the call."""

    class Exploding(dict[int, str]):
        def items(self) -> Any:
            raise KeyError("a bug in the caller's mapping")

    async with client_for(served) as client:
        rows: list[Any] = [{"phone": A}, {"phone": B, "fields": Exploding()}]
        bulk = client.contacts.create_many(rows, return_exceptions=True)
        with pytest.raises(bsg_async.BulkError) as info:
            await bulk.collect()
    assert 1 == info.value.index
