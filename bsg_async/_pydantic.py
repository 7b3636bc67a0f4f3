"""The models as pydantic v2 types, for FastAPI response models (imported only when asked).

A route annotated ``-> bsg_async.Contact`` (or ``list[Contact]``,
``Page[Contact]``) makes FastAPI ask pydantic for each model's core schema.
The schema accepts the model's own instances, serialises them exactly as
``to_jsonable`` does (the API's datetime strings, custom field ids as string
keys) and describes that JSON in the OpenAPI document.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from pydantic_core import core_schema

from bsg_async.models import FieldValues, to_jsonable

if typing.TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler

__all__ = ["model_core_schema"]

_UNIONS = (typing.Union, types.UnionType)
# The API's datetimes, as to_jsonable writes them.
_DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"


def model_core_schema(
    cls: type,
    source: Any,  # noqa: ANN401 - any annotation
    handler: GetCoreSchemaHandler,
) -> core_schema.CoreSchema:
    """Validate instances of ``cls``; serialise and describe them as ``to_jsonable`` does."""
    arguments = dict(zip(getattr(cls, "__parameters__", ()), typing.get_args(source), strict=False))
    hints = typing.get_type_hints(cls)
    fields = {
        field.name: core_schema.typed_dict_field(
            _json_schema(_substitute(hints[field.name], arguments), handler),
            required=field.default is attrs.NOTHING,
        )
        for field in attrs.fields(cls)
    }
    shape = core_schema.typed_dict_schema(fields, ref=_name(cls, source))
    return core_schema.json_or_python_schema(
        json_schema=shape,
        python_schema=core_schema.is_instance_schema(cls),
        serialization=core_schema.plain_serializer_function_ser_schema(
            _serialise, return_schema=shape
        ),
    )


def _serialise(value: object) -> Any:  # noqa: ANN401 - JSON of any shape
    return to_jsonable(value)


def _name(cls: type, source: Any) -> str:  # noqa: ANN401
    arguments = [getattr(a, "__name__", str(a)) for a in typing.get_args(source)]
    return cls.__name__ + (f"_{'_'.join(arguments)}_" if arguments else "")


def _substitute(hint: Any, arguments: dict[Any, Any]) -> Any:  # noqa: ANN401
    """``hint`` with the class's type variables replaced by the arguments given."""
    if hint in arguments:
        return arguments[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None or not args:
        return hint
    replaced = tuple(_substitute(arg, arguments) for arg in args)
    if origin in _UNIONS:
        return typing.Union[replaced]  # noqa: UP007 - built from parts
    return origin[replaced]


# What to_jsonable makes of these types, as JSON.
_LEAVES: dict[Any, core_schema.CoreSchema] = {
    datetime: core_schema.str_schema(pattern=_DATETIME_PATTERN),
    FieldValues: core_schema.dict_schema(
        core_schema.str_schema(), core_schema.nullable_schema(core_schema.str_schema())
    ),
}


def _json_schema(hint: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:  # noqa: ANN401
    """The JSON a value of ``hint`` becomes through ``to_jsonable``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _LEAVES:
        return _LEAVES[hint]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return core_schema.str_schema()
    if origin is tuple and args:
        return core_schema.list_schema(_json_schema(args[0], handler))
    if origin in _UNIONS:
        choices: list[core_schema.CoreSchema | tuple[core_schema.CoreSchema, str]] = [
            _json_schema(arg, handler) for arg in args if arg is not type(None)
        ]
        first = choices[0]
        inner: core_schema.CoreSchema = (
            first
            if len(choices) == 1 and not isinstance(first, tuple)
            else core_schema.union_schema(choices)
        )
        return core_schema.nullable_schema(inner) if type(None) in args else inner
    if origin is Mapping:
        return core_schema.dict_schema(core_schema.str_schema(), core_schema.str_schema())
    return handler.generate_schema(hint)
