"""The one private cattrs converter, and the readers of the API's envelopes.

The API is loose about types, and the hooks here absorb every shape listed in
API-NOTES: ids, phones and totals as numbers or numeric strings; ``default``
as a bool or 0/1; ``fields`` as ``{"<id>": value}``, ``[]``, or a list of
``{"id", "value"}`` pairs; datetimes as ``Y-m-d H:i:s``. Anything else is a
``ShapeError`` that says where the answer went wrong.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import cattrs

from bsg_async.models import (
    Contact,
    ContactFieldType,
    ContactList,
    HlrStatus,
    Page,
    StoplistEntry,
    StoplistType,
)

__all__ = [
    "ShapeError",
    "converter",
    "loads",
    "make_converter",
    "read_data",
    "read_items",
    "read_page",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

loads: Callable[[bytes], Any]
try:  # orjson, when installed (the "fast" extra), decodes pages about twice as fast
    import orjson

    loads = orjson.loads
    JSON_ERRORS: tuple[type[Exception], ...] = (orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover - exercised when orjson is absent
    loads = json.loads
    JSON_ERRORS = (json.JSONDecodeError, UnicodeDecodeError)


class ShapeError(ValueError):
    """An answer's JSON does not have the shape the API documents."""


def _to_int(value: object, _: object = None) -> int:
    if isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false", ""})


def _to_bool(value: object, _: object = None) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in {0, 1}:
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise TypeError(f"expected a boolean, got {value!r}")


def _to_str(value: object, _: object = None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {value!r}")


def _to_datetime(value: object, _: object = None) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise TypeError(f"expected a datetime like 'Y-m-d H:i:s', got {value!r}")


def _to_enum(value: object, cls: type[E]) -> E:
    if not isinstance(value, str):
        raise TypeError(f"expected a string for {cls.__name__}, got {value!r}")
    return cls(value)


def _field_value(value: object) -> str | None:
    return None if value is None else _to_str(value)


def field_key(key: object) -> int | str:
    """A custom field's key: its numeric id as an int; any other text kept as is.

    Liberal on purpose: one odd key (the seed pages' ``additionalProp1``)
    must not fail a whole page of an export.
    """
    if type(key) is str:
        return int(key) if key.isascii() and key.isdigit() else key
    if type(key) is int:
        return key
    raise TypeError(f"expected a custom field id, got {key!r}")


def _to_fields(value: object, _: object = None) -> Mapping[int | str, str | None]:
    """Custom field values by id, from any of the shapes the API uses."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {field_key(key): _field_value(item) for key, item in value.items()}
    if isinstance(value, list):
        fields: dict[int | str, str | None] = {}
        for pair in value:
            if not isinstance(pair, Mapping) or "id" not in pair:
                raise TypeError(f"expected {{'id', 'value'}} pairs in fields, got {pair!r}")
            fields[field_key(pair["id"])] = _field_value(pair.get("value"))
        return fields
    raise TypeError(f"expected fields as an object or a list, got {value!r}")


def configure_converter(conv: cattrs.Converter) -> None:
    """Register the API's lenient scalar hooks on ``conv``."""
    import cattrs.gen  # noqa: PLC0415 - cattrs loads on first use (import time)

    conv.register_structure_hook(int, _to_int)
    conv.register_structure_hook(bool, _to_bool)
    conv.register_structure_hook(str, _to_str)
    conv.register_structure_hook(datetime, _to_datetime)
    for enum_type in (HlrStatus, ContactFieldType, StoplistType):
        # Registered per class: the str hook would otherwise win by subclassing.
        conv.register_structure_hook(enum_type, _to_enum)
    list_hook = cattrs.gen.make_dict_structure_fn(ContactList, conv)

    def structure_list(value: object, _: object) -> ContactList:
        # Search answers spell the flag `is_default`.
        if isinstance(value, Mapping) and "default" not in value and "is_default" in value:
            value = {**value, "default": value["is_default"]}
        return list_hook(value, ContactList)  # type: ignore[arg-type]

    conv.register_structure_hook(ContactList, structure_list)
    fields_type = Mapping[int | str, str | None]
    conv.register_structure_hook_func(lambda t: t == fields_type, _to_fields)


def make_converter() -> cattrs.Converter:
    """Build the converter the SDK uses (unknown keys ignored)."""
    import cattrs  # noqa: PLC0415

    conv = cattrs.Converter()
    configure_converter(conv)
    return conv


@functools.cache
def converter() -> cattrs.Converter:
    """The SDK's one converter, built on first use.

    The fast paths below serve most answers, so cattrs (about 17 ms of
    import time) loads only when an unusual shape or another model needs it.
    """
    return make_converter()


def _format(exc: BaseException, _: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    return str(exc) or type(exc).__name__


# ------------------------------------------------------------ fast paths
#
# Hand-written readers for the models every page is made of. They accept the
# common shapes only and raise on anything else; the callers then fall back
# to the generic converter, which handles every documented shape and names
# the bad key. Same results, about four times faster on the happy path.


@functools.lru_cache(maxsize=4096)
def _fast_datetime(value: str) -> datetime:
    # Dates repeat across a page (a list's created_at in every contact).
    return datetime.fromisoformat(value)


def _fast_int(value: object) -> int:
    if type(value) is int:
        return value
    raise TypeError(value)


def _fast_optional_datetime(value: object) -> datetime | None:
    if value is None:
        return None
    if type(value) is str:
        return _fast_datetime(value)
    raise TypeError(value)


def _fast_bool(value: object) -> bool:
    if value is True or value is False:
        return value
    if value is None:
        return False
    if type(value) is int and value in {0, 1}:
        return bool(value)
    raise TypeError(value)


def _fast_text(value: object) -> str | None:
    if value is None or type(value) is str:
        return value
    raise TypeError(value)


_HLR = HlrStatus._value2member_map_


def _hlr(value: object) -> HlrStatus:
    found = _HLR.get(value)
    return found if isinstance(found, HlrStatus) else HlrStatus(value)


def _fast_list(row: Mapping[str, Any]) -> ContactList:
    if "default" not in row and "is_default" in row:
        raise TypeError("search shape")
    items = row.get("items")
    stopped = row.get("stop_list_count")
    name = row["name"]
    if type(name) is not str:
        raise TypeError(name)
    return ContactList(
        id=_fast_int(row["id"]),
        name=name,
        description=_fast_text(row.get("description")),
        default=_fast_bool(row.get("default")),
        created_at=_fast_optional_datetime(row.get("created_at")),
        items=None if items is None else _fast_int(items),
        stop_list_count=None if stopped is None else _fast_int(stopped),
    )


def _fast_fields(value: object) -> Mapping[int | str, str | None]:
    if type(value) is dict:
        return {field_key(key): _fast_text(item) for key, item in value.items()}
    if value == [] or value is None:
        return {}
    raise TypeError(value)


_Memo = dict[object, tuple[Mapping[str, Any], ContactList]]


def _fast_groups(groups: list[Any], memo: _Memo) -> tuple[ContactList, ...]:
    lists = []
    for group in groups:
        # Every contact of a page embeds the same few lists: the frozen
        # ContactList is built once per page and shared when the embedded
        # object is equal (a C-level dict comparison) to the one it came from.
        key = group.get("id")
        cached = memo.get(key)
        if cached is not None and cached[0] == group:
            lists.append(cached[1])
            continue
        built = _fast_list(group)
        memo[key] = (group, built)
        lists.append(built)
    return tuple(lists)


def _fast_contact(row: Mapping[str, Any], memo: _Memo | None = None) -> Contact:
    status = row.get("hlr_status")
    groups = row.get("groups") or []
    if type(groups) is not list:
        raise TypeError(groups)
    return Contact(
        id=_fast_int(row["id"]),
        phone=_fast_int(row["phone"]),
        fields=_fast_fields(row.get("fields")),
        created_at=_fast_optional_datetime(row.get("created_at")),
        groups=_fast_groups(groups, {} if memo is None else memo),
        hlr_status=None if status is None else _hlr(status),
        hlr_last_check=_fast_optional_datetime(row.get("hlr_last_check")),
    )


def _fast_entry(row: Mapping[str, Any]) -> StoplistEntry:
    rcs = row.get("rcs_stoplist")
    return StoplistEntry(
        id=_fast_int(row["id"]),
        phone=_fast_int(row["phone"]),
        created_at=_fast_optional_datetime(row.get("created_at")),
        sms_stoplist=_fast_bool(row.get("sms_stoplist")),
        viber_stoplist=_fast_bool(row.get("viber_stoplist")),
        rcs_stoplist=None if rcs is None else _fast_bool(rcs),
    )


_FAST: dict[type, Callable[[Any], Any]] = {
    Contact: _fast_contact,
    ContactList: _fast_list,
    StoplistEntry: _fast_entry,
}


def _structure_rows(rows: list[Any], cls: type[T], what: str) -> list[T]:
    fast = _FAST.get(cls)
    if cls is Contact:
        # One memo per page: its contacts share the lists they embed.
        fast = functools.partial(_fast_contact, memo={})
    if fast is not None:
        try:
            return [fast(row) for row in rows]
        except (TypeError, ValueError, KeyError, AttributeError):
            pass  # an unusual shape: the generic path reads it or explains it
    return structure(rows, list[cls], what)  # type: ignore[valid-type]


def _structure_one(value: object, cls: type[T], what: str) -> T:
    fast = _FAST.get(cls)
    if fast is not None:
        try:
            result: T = fast(value)
        except (TypeError, ValueError, KeyError, AttributeError):
            pass
        else:
            return result
    return structure(value, cls, what)


def _explain(exc: Exception, what: str) -> str:
    import cattrs  # noqa: PLC0415

    if isinstance(exc, cattrs.BaseValidationError):
        problems = cattrs.transform_error(exc, path=what, format_exception=_format)
        return "; ".join(problems)
    return f"{exc} @ {what}"


def structure(value: object, cls: type[T], what: str) -> T:
    """Structure ``value`` as ``cls``.

    Raises:
        ShapeError: Saying which key of the answer was wrong and how.
    """
    import cattrs  # noqa: PLC0415

    try:
        return converter().structure(value, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise ShapeError(_explain(exc, what)) from exc


def _envelope(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping) or "data" not in body:
        raise ShapeError(f"expected a JSON object with a 'data' key, got {_brief(body)}")
    return body


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."  # noqa: PLR2004


def read_data(body: object, cls: type[T]) -> T:
    """Read ``{"data": {...}}`` as one ``cls``."""
    return _structure_one(_envelope(body)["data"], cls, "$.data")


def read_items(body: object, cls: type[T]) -> list[T]:
    """Read ``{"data": [...]}`` (a list answer without paging) as ``cls`` items."""
    data = _envelope(body)["data"]
    if not isinstance(data, list):
        raise ShapeError(f"expected a list under 'data', got {_brief(data)}")
    return _structure_rows(data, cls, "$.data")


def read_total(body: Mapping[str, Any]) -> int:
    """Read ``total`` of a list answer, or ``meta.page.total`` of a search answer."""
    if "total" in body:
        raw, where = body["total"], "$.total"
    else:
        meta = body.get("meta")
        page = meta.get("page") if isinstance(meta, Mapping) else None
        if not isinstance(page, Mapping) or "total" not in page:
            raise ShapeError("expected 'total' or 'meta.page.total' in a list answer")
        raw, where = page["total"], "$.meta.page.total"
    try:
        total = _to_int(raw)
    except TypeError as exc:
        raise ShapeError(f"{exc} @ {where}") from None
    if total < 0:
        raise ShapeError(f"expected a non-negative total, got {total} @ {where}")
    return total


def read_page(body: object, cls: type[T], offset: int) -> Page[T]:
    """Read a list answer (``data`` plus ``total`` or ``meta.page.total``)."""
    envelope = _envelope(body)
    data = envelope["data"]
    if not isinstance(data, list):
        raise ShapeError(f"expected a list under 'data', got {_brief(data)}")
    items = tuple(_structure_rows(data, cls, "$.data"))
    return Page(items=items, offset=offset, total=read_total(envelope))
