"""The one private cattrs converter, and the readers of the API's envelopes.

The API is loose about types, and the hooks here absorb every shape listed in
API-NOTES: ids, phones and totals as numbers or numeric strings; ``default``
as a bool or 0/1; ``fields`` as ``{"<id>": value}``, ``[]``, or a list of
``{"id", "value"}`` pairs; datetimes as ``Y-m-d H:i:s``. Anything else is a
``ShapeError`` that says where the answer went wrong.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import cattrs
import cattrs.gen

from bsg_async.models import ContactFieldType, ContactList, HlrStatus, Page, StoplistType

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
    _JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover - exercised when orjson is absent
    loads = json.loads
    _JSONError = (json.JSONDecodeError, UnicodeDecodeError)

JSON_ERRORS = _JSONError


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


def _to_fields(value: object, _: object = None) -> Mapping[int, str | None]:
    """Custom field values by id, from any of the shapes the API uses."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        try:
            return {int(key): _field_value(item) for key, item in value.items()}
        except ValueError:
            raise TypeError(f"custom field ids must be numeric, got {list(value)!r}") from None
    if isinstance(value, list):
        fields: dict[int, str | None] = {}
        for pair in value:
            if not isinstance(pair, Mapping) or "id" not in pair:
                raise TypeError(f"expected {{'id', 'value'}} pairs in fields, got {pair!r}")
            fields[_to_int(pair["id"])] = _field_value(pair.get("value"))
        return fields
    raise TypeError(f"expected fields as an object or a list, got {value!r}")


def configure_converter(conv: cattrs.Converter) -> None:
    """Register the API's lenient scalar hooks on ``conv``."""
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
    fields_type = Mapping[int, str | None]
    conv.register_structure_hook_func(lambda t: t == fields_type, _to_fields)


def make_converter() -> cattrs.Converter:
    """Build the converter the SDK uses (unknown keys ignored)."""
    conv = cattrs.Converter()
    configure_converter(conv)
    return conv


converter = make_converter()


def _format(exc: BaseException, _: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    return str(exc) or type(exc).__name__


def _explain(exc: Exception, what: str) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        problems = cattrs.transform_error(exc, path=what, format_exception=_format)
        return "; ".join(problems)
    return f"{exc} @ {what}"


def structure(value: object, cls: type[T], what: str) -> T:
    """Structure ``value`` as ``cls``.

    Raises:
        ShapeError: Saying which key of the answer was wrong and how.
    """
    try:
        return converter.structure(value, cls)
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
    return structure(_envelope(body)["data"], cls, "$.data")


def read_items(body: object, cls: type[T]) -> list[T]:
    """Read ``{"data": [...]}`` (a list answer without paging) as ``cls`` items."""
    data = _envelope(body)["data"]
    if not isinstance(data, list):
        raise ShapeError(f"expected a list under 'data', got {_brief(data)}")
    return structure(data, list[cls], "$.data")  # type: ignore[valid-type]


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
    items = tuple(structure(data, list[cls], "$.data"))  # type: ignore[valid-type]
    return Page(items=items, offset=offset, total=read_total(envelope))
