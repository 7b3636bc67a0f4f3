"""Public, frozen models of the API's objects.

Datetimes are naive ``datetime`` objects exactly as the API writes them
(``Y-m-d H:i:s``, no time zone). Keys the API adds later are ignored; keys it
leaves out are ``None`` unless a field says otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

__all__ = [
    "API_DATETIME",
    "Contact",
    "ContactField",
    "ContactFieldType",
    "ContactList",
    "FieldValues",
    "HlrStatus",
    "NewContact",
    "Page",
    "StoplistEntry",
    "StoplistType",
    "to_jsonable",
]

T = TypeVar("T")

# How the API writes a datetime.
API_DATETIME = "%Y-%m-%d %H:%M:%S"


def to_jsonable(value: object, *, iso: bool = False) -> Any:  # noqa: ANN401 - JSON of any shape
    """Plain JSON-ready data (dicts, lists, str, int, bool, None) from models.

    Works on any model, page, list or mapping of them, recursively. Datetimes
    become the API's ``Y-m-d H:i:s`` strings (ISO 8601 with ``iso=True``),
    enums their values, custom field keys strings (as the API sends them).
    The result goes to ``json.dumps``, a web framework's JSON answer or a
    DataFrame as it is.
    """
    if value is None or (
        isinstance(value, (bool, int, float, str)) and not isinstance(value, enum.Enum)
    ):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat() if iso else value.strftime(API_DATETIME)
    cls = type(value)
    if attrs.has(cls):
        return {
            field.name: to_jsonable(getattr(value, field.name), iso=iso)
            for field in attrs.fields(cls)
        }
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item, iso=iso) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item, iso=iso) for item in value]
    raise TypeError(f"to_jsonable does not know {type(value).__name__} objects")


class FieldValues(dict[int | str, str | None]):
    """A contact's custom field values by field id: a ``dict``.

    Numeric ids are ``int`` keys; a key that is not a number (the seed pages
    show ``additionalProp1``) stays the string the API sent. Its own type only
    so that answers decode straight into it.
    """

    __slots__ = ()


def field_values(value: Mapping[int | str, str | None] | None = None) -> FieldValues:
    """``value`` as ``FieldValues`` (a copy unless it already is one)."""
    if type(value) is FieldValues:
        return value
    return FieldValues(value or ())


class _Jsonable:
    """``to_dict()`` for the models."""

    __slots__ = ()

    def to_dict(self, *, iso: bool = False) -> dict[str, Any]:
        """This object as plain JSON-ready data (see ``to_jsonable``)."""
        data: dict[str, Any] = to_jsonable(self, iso=iso)
        return data

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:  # noqa: ANN401 - pydantic's hook
        """The model as a pydantic type (FastAPI response models); loads pydantic only then."""
        from bsg_async._pydantic import model_core_schema  # noqa: PLC0415 - optional

        return model_core_schema(cls, source, handler)


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
class ContactList(_Jsonable):
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
class Contact(_Jsonable):
    """A contact of the Contact Book.

    Attributes:
        fields: Custom field values by field id (empty when it has none). A
            key that is not a number is kept as the string the API sent.
        groups: The lists the contact belongs to (the API's name; ``lists``
            is the same).
    """

    id: int
    phone: int
    fields: FieldValues = attrs.field(factory=FieldValues, converter=field_values, hash=False)
    created_at: datetime | None = None
    groups: tuple[ContactList, ...] = ()
    hlr_status: HlrStatus | None = None
    hlr_last_check: datetime | None = None

    @property
    def lists(self) -> tuple[ContactList, ...]:
        """The lists the contact belongs to (``groups`` in the API's words)."""
        return self.groups


@attrs.frozen(kw_only=True)
class StoplistEntry(_Jsonable):
    """A phone on one or more stop lists."""

    id: int
    phone: int
    created_at: datetime | None = None
    sms_stoplist: bool = False
    viber_stoplist: bool = False
    rcs_stoplist: bool | None = None


@attrs.frozen(kw_only=True)
class ContactField(_Jsonable):
    """A custom field that contacts can carry values for."""

    id: int
    name: str
    type: ContactFieldType | None = None
    description: str | None = None
    is_visible: bool = True


@attrs.frozen(kw_only=True)
class NewContact(_Jsonable):
    """A contact to create with ``contacts.create_many``.

    Attributes:
        phone: International number, 9 to 15 digits (an int, or a string
            such as "+61 401 629 754").
        lists: Ids of the lists to add it to.
        fields: Custom field values by field id.
        groups: The same as ``lists``, in the API's word.
    """

    phone: int | str
    lists: tuple[int, ...] = ()
    fields: Mapping[int, str] = attrs.field(factory=dict, hash=False)
    groups: tuple[int, ...] = ()


# Rows a page shows in a notebook.
_HTML_ROWS = 10


@attrs.frozen(kw_only=True, repr=False)
class Page(_Jsonable, Generic[T]):
    """One page of a list endpoint.

    Attributes:
        items: The objects on this page.
        offset: Offset of the first item.
        total: Total the server reported with this page.
    """

    items: tuple[T, ...]
    offset: int
    total: int

    def __repr__(self) -> str:
        kinds = sorted({type(item).__name__ for item in self.items})
        what = f"{len(self.items)} {'/'.join(kinds) or 'items'}"
        end = self.offset + len(self.items)
        return f"<Page {self.offset}-{end} of {self.total}: {what}>"

    def _repr_html_(self) -> str:
        """A table of the first rows, for notebooks."""
        import html  # noqa: PLC0415 - only notebooks call this; keeps the import light

        rows = [to_jsonable(item) for item in self.items[:_HTML_ROWS]]
        names = list(rows[0]) if rows and isinstance(rows[0], dict) else ["item"]
        head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(row.get(name) if isinstance(row, dict) else row))}</td>"
                for name in names
            )
            + "</tr>"
            for row in rows
        )
        more = len(self.items) - len(rows)
        tail = f"<p>... and {more} more on this page</p>" if more > 0 else ""
        return (
            f"<p>{html.escape(repr(self))}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{tail}"
        )
