"""Public, frozen models of the API's objects.

Datetimes are naive ``datetime`` objects exactly as the API writes them
(``Y-m-d H:i:s``, no time zone). Keys the API adds later are ignored; keys it
leaves out are ``None`` unless a field says otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Generic, TypeVar

import attrs

__all__ = [
    "Contact",
    "ContactField",
    "ContactFieldType",
    "ContactList",
    "HlrStatus",
    "NewContact",
    "Page",
    "StoplistEntry",
    "StoplistType",
]

T = TypeVar("T")


class _OpenEnum(str, enum.Enum):
    """A string enum that keeps values it does not know.

    ``HlrStatus("ported")`` gives a member whose ``value`` is ``"ported"``
    instead of failing, so a value the API adds later is not an error.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def _missing_(cls, value: object) -> _OpenEnum | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        # Cached, so the same unknown value is the same object each time.
        cls._value2member_map_[value] = member
        return member


class HlrStatus(_OpenEnum):
    """Result of the last HLR lookup of a contact's phone (open: keeps new values)."""

    SENT = "sent"
    ABSENT = "absent"
    ACTIVE = "active"
    UNKNOWN = "unknown"
    FAILED = "failed"


class StoplistType(str, enum.Enum):
    """A stop list (channel) a phone can be blocked on."""

    SMS = "sms"
    VIBER = "viber"
    RCS = "rcs"
    WHATSAPP = "whatsapp"


class ContactFieldType(_OpenEnum):
    """Kind of value a custom field holds (open: keeps new values)."""

    TEXT = "text"
    DATE = "date"
    NUMBER = "number"


@attrs.frozen(kw_only=True)
class ContactList:
    """A contact list (the API calls it a group).

    Lists embedded in a contact may lack ``items`` and ``stop_list_count``.
    """

    id: int
    name: str
    description: str | None = None
    default: bool = False
    created_at: datetime | None = None
    items: int | None = None
    stop_list_count: int | None = None


@attrs.frozen(kw_only=True)
class Contact:
    """A contact of the Contact Book.

    Attributes:
        fields: Custom field values by field id (empty when it has none). A
            key that is not a number is kept as the string the API sent.
        groups: The lists the contact belongs to.
    """

    id: int
    phone: int
    fields: Mapping[int | str, str | None] = attrs.field(factory=dict, hash=False)
    created_at: datetime | None = None
    groups: tuple[ContactList, ...] = ()
    hlr_status: HlrStatus | None = None
    hlr_last_check: datetime | None = None


@attrs.frozen(kw_only=True)
class StoplistEntry:
    """A phone on one or more stop lists."""

    id: int
    phone: int
    created_at: datetime | None = None
    sms_stoplist: bool = False
    viber_stoplist: bool = False
    rcs_stoplist: bool | None = None


@attrs.frozen(kw_only=True)
class ContactField:
    """A custom field that contacts can carry values for."""

    id: int
    name: str
    type: ContactFieldType | None = None
    description: str | None = None
    is_visible: bool = True


@attrs.frozen(kw_only=True)
class NewContact:
    """A contact to create with ``contacts.create_many``.

    Attributes:
        phone: International number, 9 to 15 digits (an int, or a string
            such as "+61 401 629 754").
        groups: Ids of the lists to add it to.
        fields: Custom field values by field id.
    """

    phone: int | str
    groups: tuple[int, ...] = ()
    fields: Mapping[int, str] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a list endpoint.

    Attributes:
        items: The objects on this page.
        offset: Offset of the first item.
        total: Total the server reported with this page.
    """

    items: tuple[T, ...]
    offset: int
    total: int
