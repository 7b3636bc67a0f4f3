"""The state of one emulated BSG account: contacts, lists, custom fields, stop list.

Every change goes through the methods here, which keep the indexes (phone to
contact, phone to stop-list entry) and each list's counts up to date, so an
answer costs the same however large the book is.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any

__all__ = ["STOPLIST_TYPES", "AccountState"]

STOPLIST_TYPES = ("sms", "viber", "rcs", "whatsapp")
_FIRST_NAMES = ("Alesha", "Ilya", "Dobrynya", "Vasilisa", "Marya", "Taras", "Olena", "Ivan")
_LAST_NAMES = ("Popovich", "Muromets", "Nikitich", "Shevchenko", "Prekrasnaya", "Mudraya")


class AccountState:
    """Records of one account, as plain dicts keyed by id.

    Attributes:
        contacts: Contacts by id (``phone``, ``fields``, ``groups`` ...).
        groups: Contact lists by id (``members`` is a set of contact ids).
        fields: Custom fields by id.
        stoplist: Stop-list entries by id (one flag per stop-list type).
    """

    def __init__(self) -> None:
        self.contacts: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.fields: dict[int, dict[str, Any]] = {}
        self.stoplist: dict[int, dict[str, Any]] = {}
        self._phones: dict[int, int] = {}
        self._stop_phones: dict[int, int] = {}
        self._next = {
            "contact": 248_452_739,
            "group": 1_864_618,
            "field": 387_714,
            "stop": 24_142_096,
        }

    def now(self) -> float:
        """Seconds since the epoch (the emulator overrides it with its clock)."""
        raise NotImplementedError

    def stamp(self) -> str:
        """The current time as the API writes it (``Y-m-d H:i:s``)."""
        return datetime.fromtimestamp(self.now(), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    def new_id(self, kind: str) -> int:
        """The next id of a kind of record."""
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
            ids.append(self.add_contact(phone, [group["id"]], {field_id: name}))
        return ids

    # ----------------------------------------------------------------- fields

    def add_field(
        self, name: str, kind: str, description: str | None, *, is_visible: bool
    ) -> dict[str, Any]:
        """Create a custom field."""
        record: dict[str, Any] = {
            "id": self.new_id("field"),
            "name": name,
            "type": kind,
            "description": description,
            "is_visible": is_visible,
        }
        self.fields[record["id"]] = record
        return record

    def remove_field(self, field_id: int) -> None:
        """Delete a custom field and every value of it."""
        if self.fields.pop(field_id, None) is not None:
            for contact in self.contacts.values():
                contact["fields"].pop(field_id, None)

    # ------------------------------------------------------------------ lists

    def add_group(self, name: str, description: str | None, *, default: bool) -> dict[str, Any]:
        """Create a contact list."""
        record: dict[str, Any] = {
            "id": self.new_id("group"),
            "name": name,
            "description": description,
            "default": default,
            "created_at": self.stamp(),
            "members": set(),
            "stopped": 0,
        }
        self.groups[record["id"]] = record
        return record

    def remove_group(self, group_id: int) -> None:
        """Delete a list; its contacts stay in the book."""
        group = self.groups.pop(group_id)
        for contact_id in group["members"]:
            self.contacts[contact_id]["groups"].remove(group_id)

    def join(self, contact_id: int, group_id: int) -> None:
        """Add a contact to a list (nothing when it is there already)."""
        group = self.groups[group_id]
        if contact_id in group["members"]:
            return
        contact = self.contacts[contact_id]
        group["members"].add(contact_id)
        contact["groups"].append(group_id)
        if contact["phone"] in self._stop_phones:
            group["stopped"] += 1

    def leave(self, contact_id: int, group_id: int) -> None:
        """Take a contact out of a list (nothing when it is not there)."""
        group = self.groups[group_id]
        if contact_id not in group["members"]:
            return
        contact = self.contacts[contact_id]
        group["members"].discard(contact_id)
        contact["groups"].remove(group_id)
        if contact["phone"] in self._stop_phones:
            group["stopped"] -= 1

    # --------------------------------------------------------------- contacts

    def contact_by_phone(self, phone: int) -> int | None:
        """The id of the contact with this phone."""
        return self._phones.get(phone)

    def add_contact(self, phone: int, groups: list[int], values: dict[int, str]) -> int:
        """Create a contact in the given lists."""
        contact_id = self.new_id("contact")
        self.contacts[contact_id] = {
            "id": contact_id,
            "phone": phone,
            "fields": dict(values),
            "groups": [],
            "created_at": self.stamp(),
            "hlr_status": "unknown",
            "hlr_last_check": None,
        }
        self._phones[phone] = contact_id
        for group_id in dict.fromkeys(groups):
            self.join(contact_id, group_id)
        return contact_id

    def change_phone(self, contact_id: int, phone: int) -> None:
        """Give a contact another phone, keeping the lists' stop counts right."""
        contact = self.contacts[contact_id]
        was_stopped = contact["phone"] in self._stop_phones
        del self._phones[contact["phone"]]
        contact["phone"] = phone
        self._phones[phone] = contact_id
        shift = (phone in self._stop_phones) - was_stopped
        if shift:
            for group_id in contact["groups"]:
                self.groups[group_id]["stopped"] += shift

    def remove_contact(self, contact_id: int) -> None:
        """Delete a contact; it leaves every list."""
        for group_id in list(self.contacts[contact_id]["groups"]):
            self.leave(contact_id, group_id)
        contact = self.contacts.pop(contact_id)
        del self._phones[contact["phone"]]

    # -------------------------------------------------------------- stop list

    def stop(self, phone: int, kinds: list[str]) -> dict[str, Any]:
        """Put a phone on the given stop lists; return its entry."""
        entry_id = self._stop_phones.get(phone)
        if entry_id is None:
            entry_id = self.new_id("stop")
            self.stoplist[entry_id] = {
                "id": entry_id,
                "phone": phone,
                "created_at": self.stamp(),
                **dict.fromkeys(STOPLIST_TYPES, False),
            }
            self._stop_phones[phone] = entry_id
            self._shift_stopped(phone, +1)
        entry = self.stoplist[entry_id]
        for kind in kinds:
            entry[kind] = True
        return entry

    def unstop(self, entry_id: int, kinds: list[str]) -> None:
        """Take an entry off the given stop lists; drop it when it is on none."""
        entry = self.stoplist.get(entry_id)
        if entry is None:
            return
        for kind in kinds:
            entry[kind] = False
        if not any(entry[kind] for kind in STOPLIST_TYPES):
            del self.stoplist[entry_id]
            del self._stop_phones[entry["phone"]]
            self._shift_stopped(entry["phone"], -1)

    def _shift_stopped(self, phone: int, shift: int) -> None:
        contact_id = self._phones.get(phone)
        if contact_id is not None:
            for group_id in self.contacts[contact_id]["groups"]:
                self.groups[group_id]["stopped"] += shift

    # ----------------------------------------------------------- JSON views

    def group_json(self, group: dict[str, Any], *, counts: bool = True) -> dict[str, Any]:
        """A list as the API shows it (PUT answers embed it without counts)."""
        out = {
            "id": group["id"],
            "name": group["name"],
            "description": group["description"],
            "default": group["default"],
            "created_at": group["created_at"],
        }
        if counts:
            out["items"] = len(group["members"])
            out["stop_list_count"] = group["stopped"]
        return out

    def lists_view(
        self, contacts: list[dict[str, Any]], *, counts: bool = True
    ) -> dict[int, dict[str, Any]]:
        """The lists these contacts belong to, as embedded, built once per answer."""
        wanted = {gid for contact in contacts for gid in contact["groups"]}
        return {
            gid: self.group_json(self.groups[gid], counts=counts)
            for gid in wanted
            if gid in self.groups
        }

    def contact_json(
        self, contact: dict[str, Any], lists: dict[int, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A contact as the API shows it."""
        lists = self.lists_view([contact]) if lists is None else lists
        values = contact["fields"]
        return {
            "id": contact["id"],
            "phone": contact["phone"],
            # The real API answers [] when a contact has no custom values.
            "fields": {str(k): v for k, v in values.items()} if values else [],
            "groups": [lists[gid] for gid in contact["groups"] if gid in lists],
            "hlr_status": contact["hlr_status"],
            "hlr_last_check": contact["hlr_last_check"],
            "created_at": contact["created_at"],
        }

    @staticmethod
    def stop_json(entry: dict[str, Any]) -> dict[str, Any]:
        """A stop-list entry as the API shows it."""
        return {
            "id": entry["id"],
            "phone": entry["phone"],
            "created_at": entry["created_at"],
            "sms_stoplist": entry["sms"],
            "viber_stoplist": entry["viber"],
            "rcs_stoplist": entry["rcs"],
        }
