"""One emulated BSG account: contacts, lists, custom fields, stop list.

``Account`` holds the typed records of ``_records`` and is the only way they
change: every change goes through its methods, which keep the indexes
(phone to contact, phone to stop-list entry) and each list's counts up to
date, so an answer costs the same however large the book is. Handlers read
records and call these methods; they never change a record themselves.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bsg_async.testing._records import (
    STOPLIST_TYPES,
    ContactRecord,
    FieldRecord,
    ListRecord,
    StopEntry,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["STOPLIST_TYPES", "Account"]

_FIRST_NAMES = ("Alesha", "Ilya", "Dobrynya", "Vasilisa", "Marya", "Taras", "Olena", "Ivan")
_LAST_NAMES = ("Popovich", "Muromets", "Nikitich", "Shevchenko", "Prekrasnaya", "Mudraya")
_UNSET: Any = object()


class Account:
    """The records of one account, by id.

    Args:
        clock: Seconds since the epoch (the emulator's clock).

    Attributes:
        contacts: Contacts by id.
        groups: Contact lists by id.
        fields: Custom fields by id.
        stoplist: Stop-list entries by id.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.contacts: dict[int, ContactRecord] = {}
        self.groups: dict[int, ListRecord] = {}
        self.fields: dict[int, FieldRecord] = {}
        self.stoplist: dict[int, StopEntry] = {}
        self._phones: dict[int, int] = {}
        self._stop_phones: dict[int, int] = {}
        self._next = {
            "contact": 248_452_739,
            "group": 1_864_618,
            "field": 387_714,
            "stop": 24_142_096,
        }

    def stamp(self) -> str:
        """The current time as the API writes it (``Y-m-d H:i:s``)."""
        return datetime.fromtimestamp(self._clock(), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    def _new_id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    # ---------------------------------------------------------------- seeding

    def seed_contacts(self, count: int, *, seed: int = 0) -> list[int]:
        """Generate ``count`` contacts (deterministic from ``seed``); return their ids."""
        rng = random.Random(seed)  # noqa: S311 - test data
        if not self.fields:
            self.add_field("Name", "text", "Generated name", is_visible=True)
        field_id = next(iter(self.fields))
        group = self.add_group(f"Seeded {count}", "generated contacts", default=False)
        ids: list[int] = []
        base = 380_500_000_000 + rng.randrange(0, 10_000_000) * 10_000
        for number in range(count):
            phone = base + number
            while phone in self._phones:
                phone += 1
            name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
            ids.append(self.add_contact(phone, [group.id], {field_id: name}))
        return ids

    # ----------------------------------------------------------------- fields

    def add_field(
        self, name: str, kind: str, description: str | None, *, is_visible: bool
    ) -> FieldRecord:
        """Create a custom field."""
        record = FieldRecord(self._new_id("field"), name, kind, description, is_visible)
        self.fields[record.id] = record
        return record

    def update_field(
        self,
        field_id: int,
        *,
        name: str = _UNSET,
        description: str | None = _UNSET,
        is_visible: bool = _UNSET,
    ) -> FieldRecord:
        """Change what is given of a custom field."""
        record = self.fields[field_id]
        if name is not _UNSET:
            record.name = name
        if description is not _UNSET:
            record.description = description
        if is_visible is not _UNSET:
            record.is_visible = is_visible
        return record

    def remove_field(self, field_id: int) -> None:
        """Delete a custom field and every value of it."""
        if self.fields.pop(field_id, None) is not None:
            for contact in self.contacts.values():
                contact.fields.pop(field_id, None)

    # ------------------------------------------------------------------ lists

    def add_group(self, name: str, description: str | None, *, default: bool) -> ListRecord:
        """Create a contact list."""
        record = ListRecord(self._new_id("group"), name, description, default, self.stamp())
        self.groups[record.id] = record
        return record

    def update_group(
        self,
        group_id: int,
        *,
        name: str,
        description: str | None = _UNSET,
        default: bool = _UNSET,
    ) -> ListRecord:
        """Rename a list; change its description and flag when given."""
        group = self.groups[group_id]
        group.name = name
        if description is not _UNSET:
            group.description = description
        if default is not _UNSET:
            group.default = default
        return group

    def remove_group(self, group_id: int) -> None:
        """Delete a list; its contacts stay in the book."""
        group = self.groups.pop(group_id)
        for contact_id in group.members:
            self.contacts[contact_id].groups.remove(group_id)

    def join(self, contact_id: int, group_id: int) -> None:
        """Add a contact to a list (nothing when it is there already)."""
        group = self.groups[group_id]
        if contact_id in group.members:
            return
        contact = self.contacts[contact_id]
        group.members.add(contact_id)
        contact.groups.append(group_id)
        if contact.phone in self._stop_phones:
            group.stopped += 1

    def leave(self, contact_id: int, group_id: int) -> None:
        """Take a contact out of a list (nothing when it is not there)."""
        group = self.groups[group_id]
        if contact_id not in group.members:
            return
        contact = self.contacts[contact_id]
        group.members.discard(contact_id)
        contact.groups.remove(group_id)
        if contact.phone in self._stop_phones:
            group.stopped -= 1

    # --------------------------------------------------------------- contacts

    def contact_by_phone(self, phone: int) -> int | None:
        """The id of the contact with this phone."""
        return self._phones.get(phone)

    def add_contact(self, phone: int, groups: Iterable[int], values: Mapping[int, str]) -> int:
        """Create a contact in the given lists."""
        contact_id = self._new_id("contact")
        fields: dict[int | str, str] = {key: value for key, value in values.items()}  # noqa: C416
        self.contacts[contact_id] = ContactRecord(contact_id, phone, fields, self.stamp())
        self._phones[phone] = contact_id
        for group_id in dict.fromkeys(groups):
            self.join(contact_id, group_id)
        return contact_id

    def update_contact(
        self,
        contact_id: int,
        *,
        phone: int,
        groups: Iterable[int] = (),
        values: Mapping[int, str] | None = None,
    ) -> ContactRecord:
        """Give a contact this phone, add it to ``groups``, set the ``values`` given."""
        contact = self.contacts[contact_id]
        if phone != contact.phone:
            self.change_phone(contact_id, phone)
        for group_id in groups:
            self.join(contact_id, group_id)
        if values is not None:
            for key, value in values.items():
                contact.fields[key] = value
        return contact

    def set_value(self, contact_id: int, key: int | str, value: str) -> None:
        """Set one custom value, under any key (tests use odd keys the API has shown)."""
        self.contacts[contact_id].fields[key] = value

    def change_phone(self, contact_id: int, phone: int) -> None:
        """Give a contact another phone, keeping the lists' stop counts right."""
        contact = self.contacts[contact_id]
        was_stopped = contact.phone in self._stop_phones
        del self._phones[contact.phone]
        contact.phone = phone
        self._phones[phone] = contact_id
        shift = (phone in self._stop_phones) - was_stopped
        if shift:
            for group_id in contact.groups:
                self.groups[group_id].stopped += shift

    def remove_contact(self, contact_id: int) -> None:
        """Delete a contact; it leaves every list."""
        for group_id in list(self.contacts[contact_id].groups):
            self.leave(contact_id, group_id)
        contact = self.contacts.pop(contact_id)
        del self._phones[contact.phone]

    # -------------------------------------------------------------- stop list

    def stop(self, phone: int, kinds: Iterable[str]) -> StopEntry:
        """Put a phone on the given stop lists; return its entry."""
        entry_id = self._stop_phones.get(phone)
        if entry_id is None:
            entry_id = self._new_id("stop")
            self.stoplist[entry_id] = StopEntry(entry_id, phone, self.stamp())
            self._stop_phones[phone] = entry_id
            self._shift_stopped(phone, +1)
        entry = self.stoplist[entry_id]
        entry.on.update(kinds)
        return entry

    def unstop(self, entry_id: int, kinds: Iterable[str]) -> None:
        """Take an entry off the given stop lists; drop it when it is on none."""
        entry = self.stoplist.get(entry_id)
        if entry is None:
            return
        entry.on.difference_update(kinds)
        if not entry.on:
            del self.stoplist[entry_id]
            del self._stop_phones[entry.phone]
            self._shift_stopped(entry.phone, -1)

    def _shift_stopped(self, phone: int, shift: int) -> None:
        contact_id = self._phones.get(phone)
        if contact_id is not None:
            for group_id in self.contacts[contact_id].groups:
                self.groups[group_id].stopped += shift

    # ----------------------------------------------------------- JSON views

    def lists_view(
        self, contacts: Iterable[ContactRecord], *, counts: bool = True
    ) -> dict[int, dict[str, Any]]:
        """The lists these contacts belong to, as embedded, built once per answer."""
        wanted = {gid for contact in contacts for gid in contact.groups}
        return {
            gid: self.groups[gid].to_json(counts=counts) for gid in wanted if gid in self.groups
        }

    def contact_json(
        self, contact: ContactRecord, lists: Mapping[int, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A contact as the API shows it (its lists looked up unless given)."""
        return contact.to_json(self.lists_view([contact]) if lists is None else lists)
