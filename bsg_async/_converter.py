"""Reading the API's answers into the models.

The models in ``bsg_async.models`` are the one declaration of the answers'
shape. With msgspec installed (a dependency on CPython) an answer's bytes are
decoded straight into them in one pass, lenient where the API is loose (ids
and totals as numeric strings, ``default`` as 0/1, ``fields`` as an object or
``[]``, ``Y-m-d H:i:s`` datetimes, unknown enum values kept).

Any shape that pass does not accept, and every answer when msgspec is
absent, goes through the generic path: JSON into Python objects, then the
cattrs hooks below, which absorb every shape listed in API-NOTES (also
``fields`` as ``{"id", "value"}`` pairs, null flags, the search answers'
``is_default``). A shape neither path reads is a ``ShapeError`` that names the
key of the answer that was wrong.
"""

from __future__ import annotations

import enum
import functools
import json
import operator
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import cattrs

from bsg_async.models import (
    Contact,
    ContactField,
    ContactFieldType,
    ContactList,
    FieldValues,
    HlrStatus,
    Page,
    StoplistType,
)

__all__ = [
    "JSON_ERRORS",
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
try:
    import msgspec
except ImportError:  # pragma: no cover - exercised by `nox -s tests_minimal`
    ONE_PASS = False
    loads = json.loads
    JSON_ERRORS: tuple[type[Exception], ...] = (json.JSONDecodeError, UnicodeDecodeError)
else:
    ONE_PASS = True
    loads = msgspec.json.decode
    JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)


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
    conv.register_structure_hook(FieldValues, lambda value, _: fields_hook(FieldValues, value))


def make_converter() -> cattrs.Converter:
    """Build the converter the SDK uses (unknown keys ignored)."""
    import cattrs  # noqa: PLC0415

    conv = cattrs.Converter()
    configure_converter(conv)
    return conv


@functools.cache
def converter() -> cattrs.Converter:
    """The SDK's one converter, built on first use.

    With msgspec, most answers never need it, so cattrs (about 17 ms of
    import time) loads only when an unusual shape comes.
    """
    return make_converter()


def _format(exc: BaseException, _: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    return str(exc) or type(exc).__name__


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


# ------------------------------------------------------------ readers
#
# Each reader takes the answer's bytes. The one-pass decoder runs first; on
# a shape it does not accept, the generic path reads the same bytes again and
# either succeeds (a quirk only the hooks know) or explains what is wrong.
# Invalid JSON raises one of JSON_ERRORS.


# Field keys seen, read once: a page's contacts share the same few field ids.
_KEYS: dict[str, int | str] = {}
_KEYS_MAX = 4096


def fields_hook(cls: type, value: object) -> FieldValues:
    """Custom field values by id, from any of the shapes the API uses.

    msgspec's decode hook (FieldValues is the one type it does not know);
    the cattrs converter calls it too. The common ``{"<id>": value}`` comes
    first, with the key strings cached.
    """
    if cls is not FieldValues:  # pragma: no cover - msgspec asks only for FieldValues
        raise TypeError(f"no decoder for {cls!r}")
    if type(value) is dict:
        fields = FieldValues()
        keys = _KEYS
        for key, item in value.items():
            typed = keys.get(key)
            if typed is None:
                if len(keys) >= _KEYS_MAX:
                    keys.clear()
                typed = keys[key] = field_key(key)
            fields[typed] = item if item is None or type(item) is str else _to_str(item)
        return fields
    if value is None:
        return FieldValues()
    if isinstance(value, Mapping):
        return FieldValues({field_key(key): _field_value(item) for key, item in value.items()})
    if isinstance(value, list):
        return _field_pairs(value)
    raise TypeError(f"expected fields as an object or a list, got {value!r}")


def _field_pairs(pairs: list[object]) -> FieldValues:
    """Fields sent as ``[{"id": ..., "value": ...}]`` (the request shape)."""
    fields = FieldValues()
    for pair in pairs:
        if not isinstance(pair, Mapping) or "id" not in pair:
            raise TypeError(f"expected {{'id', 'value'}} pairs in fields, got {pair!r}")
        fields[field_key(pair["id"])] = _field_value(pair.get("value"))
    return fields


def _decoder(data: object) -> Any:  # noqa: ANN401 - a msgspec Decoder of a made-up type
    """A decoder of ``{"data": <data>, "total"?, "meta"?: {"page"?: {"total"?}}}``."""
    page_meta = msgspec.defstruct("_PageMeta", [("total", int | None, None)])
    meta = msgspec.defstruct("_Meta", [("page", page_meta | None, None)])
    answer = msgspec.defstruct(
        "_Answer", [("data", data), ("total", int | None, None), ("meta", meta | None, None)]
    )
    return msgspec.json.Decoder(answer, strict=False, dec_hook=fields_hook)


@functools.cache
def _one_decoder(cls: type) -> Any:  # noqa: ANN401
    return _decoder(cls)


@functools.cache
def _rows_decoder(cls: type) -> Any:  # noqa: ANN401
    return _decoder(list[cls])  # type: ignore[valid-type]


# Models with an optional enum attribute, which the one pass may misread.
_OPTIONAL_ENUMS: dict[type, Callable[[Any], object]] = {
    Contact: operator.attrgetter("hlr_status"),
    ContactField: operator.attrgetter("type"),
}
# The text "null" in any case, as msgspec's lax mode reads it.
_NULL_TEXT = re.compile(rb'(?i)"null"')


def _one_pass(content: bytes, cls: type, rows: bool) -> Any:  # noqa: ANN401
    """The decoded answer, or None when the generic path must read it."""
    if not ONE_PASS or (cls is ContactList and b'"is_default"' in content):
        # The lists' search answers spell `default` as `is_default`.
        return None
    try:
        answer = (_rows_decoder if rows else _one_decoder)(cls).decode(content)
    except msgspec.ValidationError:
        return None
    # msgspec's lax mode reads the text "null" (any case) as None where an
    # optional enum is expected (a contact's ``hlr_status``, a field's
    # ``type``). Only when such a None came out is the answer searched for
    # that text (a scan costs ~10% of decoding a page); found, the generic
    # path keeps it as the value it is.
    read = _OPTIONAL_ENUMS.get(cls)
    if read is not None:
        items = answer.data if rows else (answer.data,)
        if None in map(read, items) and _NULL_TEXT.search(content):
            return None
    return answer


def read_data(content: bytes, cls: type[T]) -> T:
    """Read ``{"data": {...}}`` as one ``cls``."""
    answer = _one_pass(content, cls, rows=False)
    if answer is not None:
        data: T = answer.data
        return data
    return structure(_envelope(loads(content))["data"], cls, "$.data")


def read_items(content: bytes, cls: type[T]) -> list[T]:
    """Read ``{"data": [...]}`` (a list answer without paging) as ``cls`` items."""
    answer = _one_pass(content, cls, rows=True)
    if answer is not None:
        items: list[T] = answer.data
        return items
    return _rows(_envelope(loads(content)), cls)


def read_page(content: bytes, cls: type[T], offset: int) -> Page[T]:
    """Read a list answer (``data`` plus ``total`` or ``meta.page.total``)."""
    answer = _one_pass(content, cls, rows=True)
    if answer is not None:
        total = answer.total
        where = "$.total"
        if total is None and answer.meta is not None and answer.meta.page is not None:
            total, where = answer.meta.page.total, "$.meta.page.total"
        if total is not None:
            return Page(items=tuple(answer.data), offset=offset, total=_check_total(total, where))
    envelope = _envelope(loads(content))
    return Page(items=tuple(_rows(envelope, cls)), offset=offset, total=read_total(envelope))


def _rows(envelope: Mapping[str, Any], cls: type[T]) -> list[T]:
    data = envelope["data"]
    if not isinstance(data, list):
        raise ShapeError(f"expected a list under 'data', got {_brief(data)}")
    return structure(data, list[cls], "$.data")  # type: ignore[valid-type]


def _envelope(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping) or "data" not in body:
        raise ShapeError(f"expected a JSON object with a 'data' key, got {_brief(body)}")
    return body


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."  # noqa: PLR2004


def _check_total(total: int, where: str) -> int:
    if total < 0:
        raise ShapeError(f"expected a non-negative total, got {total} @ {where}")
    return total


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
    return _check_total(total, where)
