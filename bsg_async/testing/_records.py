"""The emulated account's records, typed, each with the JSON the API shows of it.

Records are changed only by the ``Account`` that holds them (``_state``);
handlers read them and ask the account for every change. For tests written
against the earlier dict records, ``record["phone"]`` reads an attribute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["STOPLIST_TYPES", "ContactRecord", "FieldRecord", "ListRecord", "StopEntry"]

STOPLIST_TYPES = ("sms", "viber", "rcs", "whatsapp")


class _Readable:
    """``record["name"]`` reads the attribute ``name`` (nothing is written that way)."""

    __slots__ = ()

    def __getitem__(self, name: str) -> Any:  # noqa: ANN401 - whatever the attribute holds
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None


@attrs.define(slots=True, eq=False)
class FieldRecord(_Readable):
    """A custom field."""

    id: int
    name: str
    type: str
    description: str | None
    is_visible: bool

    def to_json(self) -> dict[str, Any]:
        """The field as the API answers it: no ``description`` key when it has none.

        The spec's schema gives a string, and nothing in BSG's documents shows null.
        """
        out: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.description:
            out["description"] = self.description
        out["is_visible"] = self.is_visible
        return out


@attrs.define(slots=True, eq=False)
class ListRecord(_Readable):
    """A contact list (the API's group) with its members and its stop-list count."""

    id: int
    name: str
    description: str | None
    default: bool
    created_at: str
    members: set[int] = attrs.field(factory=set)
    stopped: int = 0

    def to_json(self, *, counts: bool = True) -> dict[str, Any]:
        """The list as the API shows it (PUT answers embed it without counts)."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "default": self.default,
            "created_at": self.created_at,
        }
        if counts:
            out["items"] = len(self.members)
            out["stop_list_count"] = self.stopped
        return out


@attrs.define(slots=True, eq=False)
class ContactRecord(_Readable):
    """A contact of the Contact Book."""

    id: int
    phone: int
    fields: dict[int | str, str]
    created_at: str
    groups: list[int] = attrs.field(factory=list)
    hlr_status: str = "unknown"
    hlr_last_check: str | None = None

    def to_json(self, lists: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
        """The contact as the API shows it, its lists taken from ``lists`` (by id)."""
        return {
            "id": self.id,
            "phone": self.phone,
            # The real API answers [] when a contact has no custom values.
            "fields": {str(k): v for k, v in self.fields.items()} if self.fields else [],
            "groups": [lists[gid] for gid in self.groups if gid in lists],
            "hlr_status": self.hlr_status,
            "hlr_last_check": self.hlr_last_check,
            "created_at": self.created_at,
        }


@attrs.define(slots=True, eq=False)
class StopEntry(_Readable):
    """A phone on one or more stop lists."""

    id: int
    phone: int
    created_at: str
    on: set[str] = attrs.field(factory=set)

    def __getitem__(self, name: str) -> Any:  # noqa: ANN401
        # ``entry["sms"]``: whether the phone is on that stop list.
        return name in self.on if name in STOPLIST_TYPES else super().__getitem__(name)

    def to_json(self) -> dict[str, Any]:
        """The entry as the API shows it (one flag per documented stop list)."""
        return {
            "id": self.id,
            "phone": self.phone,
            "created_at": self.created_at,
            "sms_stoplist": "sms" in self.on,
            "viber_stoplist": "viber" in self.on,
            "rcs_stoplist": "rcs" in self.on,
        }
