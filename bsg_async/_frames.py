"""Tables of models for pandas and polars, built column by column as pages arrive.

One row per item. A model's attributes become typed columns (ids as nullable
integers, datetimes as datetime columns, enums as their values); a contact's
``groups`` become one ``lists`` column holding the ids of its lists, and its
custom fields one column each, named by field id or, with ``field_names``, by
the field's name. An empty result has the same columns and dtypes.
"""

from __future__ import annotations

import enum
import functools
import typing
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from bsg_async._errors import MissingExtraError
from bsg_async.models import Contact, ContactList, FieldValues

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator, Mapping

    import pandas as pd
    import polars as pl

__all__ = ["Listing", "Table", "Tabular"]

T = TypeVar("T")

# Column kinds, and their dtypes in each library.
_INT, _BOOL, _TEXT, _TIME, _IDS = "int", "bool", "text", "time", "ids"


def require(library: str) -> None:
    """Fail before any request when ``library`` (pandas, polars) is not installed."""
    try:
        __import__(library)
    except ImportError:
        raise MissingExtraError(f"to_{library}()", library, library) from None


def _kind(hint: object) -> str:
    """The column kind of an attribute's type hint (``X | None`` reads as ``X``)."""
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) is tuple:
        return _IDS
    base = args[0] if args and typing.get_origin(hint) is not None else hint
    if base is bool:
        return _BOOL
    if base is int:
        return _INT
    if base is datetime:
        return _TIME
    return _TEXT  # str, enums, anything else as text


@functools.cache
def _schema(cls: type) -> tuple[tuple[str, str, str], ...]:
    """(attribute, column name, kind) of a model, in declaration order."""
    hints = typing.get_type_hints(cls)
    columns = []
    for field in attrs.fields(cls):
        hint = hints[field.name]
        if hint is FieldValues:
            continue  # one column per custom field, added as they appear
        name = "lists" if cls is Contact and field.name == "groups" else field.name
        columns.append((field.name, name, _kind(hint)))
    return tuple(columns)


def _cell(value: object, kind: str) -> object:
    if kind == _IDS:
        items = typing.cast("tuple[object, ...]", value)
        return [item.id if isinstance(item, ContactList) else item for item in items]
    if isinstance(value, enum.Enum):
        return value.value
    return value


class Table:
    """Rows of one model class, kept as columns until a DataFrame is built.

    Args:
        cls: The model class (its attributes are the columns).
        field_names: Custom field id to name; None names field columns by id.
    """

    def __init__(self, cls: type, field_names: Mapping[int, str] | None = None) -> None:
        self._schema = _schema(cls)
        self._columns: dict[str, list[object]] = {name: [] for _, name, _ in self._schema}
        self._field_names = field_names
        # Custom field values by column, sparse: row number -> value. With
        # the account's field names known, every field has its column, even
        # one no row uses (or no row at all).
        self._fields: dict[int | str, dict[int, str | None]] = {}
        if field_names is not None and cls is Contact:
            self._fields = {key: {} for key in field_names}
        self._errors: dict[int, str] = {}
        self.rows = 0

    def add(self, item: object) -> None:
        """Append one model (or, for a failed bulk item, its exception) as a row."""
        row = self.rows
        self.rows += 1
        if isinstance(item, BaseException):
            self._errors[row] = f"{type(item).__name__}: {item}"
            for column in self._columns.values():
                column.append(None)
            return
        for attribute, name, kind in self._schema:
            self._columns[name].append(_cell(getattr(item, attribute), kind))
        if isinstance(item, Contact):
            for key, value in item.fields.items():
                self._fields.setdefault(key, {})[row] = value

    def _field_column(self, key: int | str, taken: set[str]) -> str:
        name = str(key)
        if self._field_names is not None and isinstance(key, int) and key in self._field_names:
            name = self._field_names[key]
        if name in taken:
            name = f"{name} ({key})"
        taken.add(name)
        return name

    def _all_columns(self) -> list[tuple[str, str, list[object]]]:
        """(name, kind, values) of every column, custom fields after the attributes."""
        columns = [(name, kind, self._columns[name]) for _, name, kind in self._schema]
        taken = {name for name, _, _ in columns}
        for key in sorted(self._fields, key=lambda k: (isinstance(k, str), str(k))):
            values = self._fields[key]
            cells: list[object] = [values.get(row) for row in range(self.rows)]
            columns.append((self._field_column(key, taken), _TEXT, cells))
        if self._errors:
            cells = [self._errors.get(row) for row in range(self.rows)]
            columns.append(("error", _TEXT, cells))
        return columns

    def to_pandas(self) -> Any:  # noqa: ANN401 - pandas is optional, its types too
        """A pandas DataFrame (the ``pandas`` extra)."""
        require("pandas")
        import pandas as pd  # noqa: PLC0415 - optional

        dtypes = {
            _INT: "Int64",
            _BOOL: "boolean",
            _TEXT: "string",
            _TIME: "datetime64[ns]",
            _IDS: "object",
        }
        data = {
            name: pd.Series(values, dtype=dtypes[kind], name=name)
            for name, kind, values in self._all_columns()
        }
        return pd.DataFrame(data, index=pd.RangeIndex(self.rows))

    def to_polars(self) -> Any:  # noqa: ANN401 - polars is optional, its types too
        """A polars DataFrame (the ``polars`` extra)."""
        require("polars")
        import polars as pl  # noqa: PLC0415 - optional

        dtypes: dict[str, Any] = {
            _INT: pl.Int64,
            _BOOL: pl.Boolean,
            _TEXT: pl.String,
            _TIME: pl.Datetime("us"),
            _IDS: pl.List(pl.Int64),
        }
        columns = self._all_columns()
        return pl.DataFrame(
            [pl.Series(name, cells, dtype=dtypes[kind]) for name, kind, cells in columns]
        )


class Tabular:
    """``to_pandas()`` and ``to_polars()`` for anything that yields models of one type.

    A subclass sets ``item_type`` (and ``_resolve_names`` when custom field
    names can be looked up) and fills a ``Table`` in ``_fill_table``.
    """

    item_type: type | None = None
    _resolve_names: Callable[[], Awaitable[Mapping[int, str]]] | None = None

    async def to_pandas(self, *, field_names: bool = False, progress: bool = False) -> pd.DataFrame:
        """Every item as a row of a pandas DataFrame (the ``pandas`` extra).

        The table is built column by column as items arrive: no list of
        models is kept. Attributes become typed columns (nullable ``Int64``
        ids, ``datetime64`` times, enums as strings). A contact's lists are
        one ``lists`` column of list ids, and each custom field a string
        column named by its id, or by its name with ``field_names=True`` (one
        extra request for the fields). An empty result has the same columns
        and dtypes. A failed bulk item (``return_exceptions=True``) keeps its
        row: empty cells, and its error in an ``error`` column.

        Args:
            field_names: Name custom field columns by the fields' names.
            progress: Show a progress bar (tqdm, the ``progress`` extra).
        """
        require("pandas")
        frame: pd.DataFrame = (await self._table(field_names, progress)).to_pandas()
        return frame

    async def to_polars(self, *, field_names: bool = False, progress: bool = False) -> pl.DataFrame:
        """Every item as a row of a polars DataFrame (the ``polars`` extra; see ``to_pandas``)."""
        require("polars")
        frame: pl.DataFrame = (await self._table(field_names, progress)).to_polars()
        return frame

    async def _table(self, field_names: bool, progress: bool) -> Table:
        if self.item_type is None:
            raise TypeError(f"this {type(self).__name__} has no item_type: no table form")
        names = None
        if field_names and self._resolve_names is not None:
            names = await self._resolve_names()
        table = Table(self.item_type, names)
        await self._fill_table(table, progress)
        return table

    async def _fill_table(self, table: Table, progress: bool) -> None:
        """Add every item to ``table``."""
        raise NotImplementedError


class Listing(Tabular, Generic[T]):
    """An answer that is one whole list (no paging): await it, or ask for a table.

    ``await client.fields.list()`` gives a ``list``;
    ``await client.fields.list().to_pandas()`` a DataFrame of the same items.
    """

    def __init__(self, fetch: Callable[[], Awaitable[list[T]]], item_type: type[T]) -> None:
        self._fetch = fetch
        self.item_type: type | None = item_type

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._get().__await__()

    async def _get(self) -> list[T]:
        return await self._fetch()

    def __repr__(self) -> str:
        name = "items" if self.item_type is None else self.item_type.__name__
        return f"<Listing of {name}: await it, or .to_pandas()>"

    async def _fill_table(self, table: Table, progress: bool) -> None:  # noqa: ARG002 - one request: no progress to show
        for item in await self._fetch():
            table.add(item)
