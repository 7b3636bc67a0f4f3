"""What every handler of the emulator shares: replies, API errors, input parsing.

The emulator speaks HTTP only as data. Input is read defensively: a value of
the wrong JSON type, a digit outside ASCII, an integer too large for the API
all become the API's 422 ``{"message", "errors"}``, never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Mapping

R = TypeVar("R")  # a record of the account

__all__ = [
    "Deferred",
    "INVALID",
    "JSON_HEADERS",
    "MAX_ID",
    "MAX_PHONE",
    "MIN_PHONE",
    "ApiError",
    "Call",
    "Reply",
    "compare",
    "invalid",
    "json_reply",
    "load_json",
    "optional_int_param",
    "page_params",
    "parse_id",
    "read_int",
    "read_int_list",
    "record_or_422",
    "search_criteria",
    "search_rows",
]

MIN_PHONE = 100_000_000
MAX_PHONE = 999_999_999_999_999
# Ids are unsigned 64-bit at most; anything longer cannot name an object.
MAX_ID = 2**63 - 1
INVALID = "The given data was invalid."
JSON_HEADERS = {"content-type": "application/json"}
OPERATORS = frozenset({"like", "=", ">=", ">", "<", "<="})
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")
_SEARCH_FIELDS = re.compile(r"search_fields\[(\d{1,4})\]\[(field|operator|value)\]")


@dataclass
class Reply:
    """One answer of the emulator.

    ``action`` tells the adapter how to deliver it: ``"send"``; ``"drop"``
    (close the connection without a complete answer); ``delay`` adds seconds
    before answering. ``deferred``: the request is not handled yet; the
    adapter awaits ``deferred.wait()`` for the real reply.
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "send"
    delay: float = 0.0
    deferred: Deferred | None = None


class Deferred:
    """A request received but handled later, when the emulator releases it."""

    def __init__(self, request: tuple[str, str, str, dict[str, str], bytes]) -> None:
        self.request = request
        self.reply: Reply | None = None
        self._event: anyio.Event | None = None

    async def wait(self) -> Reply:
        """The reply, once the request was handled."""
        if self.reply is None:
            self._event = anyio.Event()
            await self._event.wait()
        assert self.reply is not None  # noqa: S101
        return self.reply

    def release(self, reply: Reply) -> None:
        """Give the handled request's reply to whoever waits for it (same event loop)."""
        self.reply = reply
        if self._event is not None:
            self._event.set()


@dataclass
class Call:
    """One request as a handler sees it."""

    method: str
    path: str
    match: dict[str, str]
    params: list[tuple[str, str]]
    body: bytes
    token: str = ""

    def param(self, name: str) -> str | None:
        """The last value of query parameter ``name``."""
        value = None
        for key, item in self.params:
            if key == name:
                value = item
        return value

    def values(self, *names: str) -> list[str]:
        """Every value of the query parameters ``names``, in order."""
        return [item for key, item in self.params if key in names]


class ApiError(Exception):
    """An API error answer raised inside a handler."""

    def __init__(self, status: int, message: str, errors: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = [] if errors is None else errors


def invalid(name: str, message: str) -> ApiError:
    """The API's validation failure for one input."""
    return ApiError(422, INVALID, {name: [message]})


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, {**JSON_HEADERS, **(headers or {})})


def load_json(body: bytes) -> Any:  # noqa: ANN401 - JSON of any shape
    """The request body as JSON (None when empty); 400 when it is not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "The request body is not valid JSON.") from None


def read_int(value: object, name: str, *, low: int = 1, high: int = MAX_ID) -> int:
    """A JSON integer in [low, high] (not a bool, not a float, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, f"The {name} must be an integer between {low} and {high}.")
    return value


def read_int_list(
    value: object, name: str, *, low: int = 1, high: int = MAX_ID, min_items: int, max_items: int
) -> list[int]:
    """A JSON array of ``min_items`` to ``max_items`` integers."""
    if not isinstance(value, list) or not min_items <= len(value) <= max_items:
        raise invalid(name, f"The {name} must be an array of {min_items} to {max_items} items.")
    return [read_int(item, f"{name}.{n}", low=low, high=high) for n, item in enumerate(value)]


def parse_id(raw: str) -> int | None:
    """An id from a URL or query string: ASCII digits only, within the API's range."""
    if _ASCII_INT.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if 0 <= value <= MAX_ID else None


def record_or_422(records: Mapping[int, R], raw: str, message: str) -> R:
    """The record a path id names, or the API's 422 with ``message``."""
    record_id = parse_id(raw)
    record = None if record_id is None else records.get(record_id)
    if record is None:
        raise ApiError(422, message)
    return record


def optional_int_param(call: Call, name: str, default: int) -> int | None:
    """An integer query parameter; None when present but not an integer."""
    raw = call.param(name)
    if raw is None:
        return default
    if _ASCII_INT.fullmatch(raw) is None:
        return None
    return int(raw)


def page_params(call: Call, default_limit: int) -> tuple[int, int]:
    """``page[limit]`` (15..500) and ``page[offset]`` (>= 0), or a 422."""
    errors: dict[str, list[str]] = {}
    limit = optional_int_param(call, "page[limit]", default_limit)
    offset = optional_int_param(call, "page[offset]", 0)
    if limit is None or not 15 <= limit <= 500:
        errors["page.limit"] = ["The page.limit must be between 15 and 500."]
    if offset is None or offset < 0:
        errors["page.offset"] = ["The page.offset must be at least 0."]
    if errors or limit is None or offset is None:
        raise ApiError(422, INVALID, errors)
    return limit, offset


def search_criteria(call: Call) -> list[dict[str, str]]:
    """The criteria of ``search[...]`` or of ``search_fields[N][...]`` (all must match).

    A criterion needs its field; the operator defaults to ``=`` and the value
    to the empty string.
    """
    groups: dict[int, dict[str, str]] = {}
    single: dict[str, str] = {}
    for key, value in call.params:
        found = _SEARCH_FIELDS.fullmatch(key)
        if found is not None:
            groups.setdefault(int(found.group(1)), {})[found.group(2)] = value
        elif key in {"search[field]", "search[operator]", "search[value]"}:
            single[key[len("search[") : -1]] = value
    criteria = [groups[n] for n in sorted(groups)]
    if single:
        criteria.insert(0, single)
    for criterion in criteria:
        if "field" not in criterion:
            raise invalid("search.field", "The search.field is required with an operator or value.")
        operator = criterion.setdefault("operator", "=")
        criterion.setdefault("value", "")
        if operator not in OPERATORS:
            raise invalid("search.operator", "The selected search.operator is invalid.")
    return criteria


def compare(actual: object, operator: str, needle: str) -> bool:
    """Apply a search operator the way the API describes (loosely typed)."""
    if isinstance(actual, (set, list, frozenset)):
        return any(compare(item, operator, needle) for item in actual)
    if actual is None:
        return False
    if operator == "like":
        return needle.strip("%").lower() in str(actual).lower()
    left: Any = actual
    right: Any = needle
    if isinstance(actual, int) and _ASCII_INT.fullmatch(needle.strip()):
        right = int(needle)
    else:
        left = str(actual)
    comparisons: dict[str, bool] = {
        "=": left == right,
        ">=": left >= right,
        ">": left > right,
        "<": left < right,
        "<=": left <= right,
    }
    return comparisons[operator]


Getter = Any  # Callable[[row, field name], value]


def search_rows(
    call: Call,
    rows: list[R],
    getters: dict[str, Getter],
    sorts: set[str],
    *,
    field_ids: bool = False,
) -> tuple[list[R], dict[str, Any]]:
    """Filter, sort and page ``rows`` as a search endpoint does; return (page, meta).

    Args:
        call: The request (``search[...]``/``search_fields``, ``sort``, ``way``, page).
        rows: Candidate records.
        getters: Searchable field name -> value of a row.
        sorts: Allowed ``sort`` values (each one a getter too).
        field_ids: Whether a custom field id (digits) may be searched (``"*"`` getter).
    """
    limit, offset = page_params(call, 50)
    criteria = search_criteria(call)
    for criterion in criteria:
        name = criterion["field"]
        getter = getters.get(name)
        if getter is None and field_ids and parse_id(name) is not None:
            getter = getters["*"]
        if getter is None:
            raise invalid("search.field", "The selected search.field is invalid.")
        rows = [
            row
            for row in rows
            if compare(getter(row, name), criterion["operator"], criterion["value"])
        ]
    sort = call.param("sort") or "id"
    if sort not in sorts:
        raise invalid("sort", "The selected sort is invalid.")
    way = call.param("way") or "asc"
    if way not in {"asc", "desc"}:
        raise invalid("way", "The selected way is invalid.")
    value = getters[sort]

    def key(row: R) -> tuple[bool, Any]:
        found = value(row, sort)
        return found is None, found

    rows = sorted(rows, key=key, reverse=way == "desc")
    echoed = criteria[0] if criteria else {}
    meta = {"page": {"limit": limit, "offset": offset, "total": len(rows)}, "search": echoed}
    return rows[offset : offset + limit], meta
