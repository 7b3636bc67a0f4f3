"""Argument checks shared by the resources; each failure is InvalidRequestError.

They run before anything is sent, so a bad argument never costs a request.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from bsg_async._errors import InvalidRequestError
from bsg_async.models import StoplistType

__all__ = [
    "MAX_BULK_CONCURRENCY",
    "MAX_PAGE_SIZE",
    "MAX_PREFETCH",
    "MIN_PAGE_SIZE",
    "check_api_key",
    "check_base_url",
    "check_bool",
    "check_choice",
    "check_client_options",
    "check_concurrency",
    "check_criteria",
    "check_fields",
    "check_id",
    "check_ids",
    "check_limit",
    "check_offset",
    "check_page_size",
    "check_phone",
    "check_phones",
    "check_prefetch",
    "check_retries",
    "check_search",
    "check_sort",
    "check_sources",
    "check_stoplist_type",
    "check_stoplist_types",
    "check_text",
    "check_timeout",
    "check_total",
    "is_loopback",
    "one_of_named",
    "parse_phone",
    "shown",
]

V = TypeVar("V")

MIN_PHONE = 100_000_000  # 9 digits
MAX_PHONE = 999_999_999_999_999  # 15 digits
MIN_PAGE_SIZE = 15
MAX_PAGE_SIZE = 500
MAX_PREFETCH = 64
MAX_BULK_CONCURRENCY = 256


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# What people write inside a phone number besides its digits.
_PHONE_SEPARATORS = str.maketrans("", "", " \t\u00a0-.()/")


def check_phone(phone: object, name: str = "phone") -> int:
    """A phone number in international form, as the API's integer.

    Takes an int, or a string of digits with an optional leading ``+`` and
    the spaces, dashes, dots and brackets people write: ``"+61 (401) 629-754"``
    is 61401629754. The number has 9 to 15 digits and starts with its country
    code (not 0).
    """
    if isinstance(phone, str):
        text = phone.strip().translate(_PHONE_SEPARATORS)
        text = text.removeprefix("+")
        if not (text.isascii() and text.isdigit()) or text.startswith("0"):
            raise InvalidRequestError(
                f"{name} must be digits in international form (country code first, an"
                f" optional leading +), got {shown(phone)}"
            )
        number = int(text)
    elif _is_int(phone):
        assert isinstance(phone, int)  # noqa: S101 - narrowing for the type checker
        number = phone
    else:
        raise InvalidRequestError(
            f"{name} must be an int or a string of digits, 9 to 15 of them, got {shown(phone)}"
        )
    if not MIN_PHONE <= number <= MAX_PHONE:
        raise InvalidRequestError(f"{name} must have 9 to 15 digits, got {shown(phone)}")
    return number


def parse_phone(phone: object) -> int:
    """A phone as the API's integer, from an int or a string as people write it.

    ``parse_phone("+61 (401) 629-754") == 61401629754``. Every call that takes
    a phone reads it this way.

    Raises:
        InvalidRequestError: Not 9 to 15 digits in international form.
    """
    return check_phone(phone)


def check_id(value: object, name: str) -> int:
    """An object id: an int >= 1."""
    if not _is_int(value) or value < 1:  # type: ignore[operator]
        raise InvalidRequestError(f"{name} must be an int >= 1, got {shown(value)}")
    assert isinstance(value, int)  # noqa: S101
    return value


def check_ids(
    values: Iterable[object] | None, name: str, *, max_items: int | None = None
) -> list[int]:
    """A collection of object ids (duplicates kept, order kept)."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidRequestError(f"{name} must be a collection of ints, got {shown(values)}")
    ids = [check_id(value, f"each of {name}") for value in values]
    if max_items is not None and len(ids) > max_items:
        raise InvalidRequestError(f"{name} takes at most {max_items} ids, got {len(ids)}")
    return ids


def check_page_size(page_size: object) -> int:
    """A page size the API accepts: 15 to 500."""
    if not _is_int(page_size) or not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:  # type: ignore[operator]
        raise InvalidRequestError(
            f"page_size must be an int from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE},"
            f" got {shown(page_size)}"
        )
    assert isinstance(page_size, int)  # noqa: S101
    return page_size


def check_offset(offset: object) -> int:
    """A paging offset: an int >= 0."""
    if not _is_int(offset) or offset < 0:  # type: ignore[operator]
        raise InvalidRequestError(f"offset must be an int >= 0, got {shown(offset)}")
    assert isinstance(offset, int)  # noqa: S101
    return offset


def check_limit(limit: object) -> int | None:
    """A cap on items returned: None (no cap) or an int >= 0."""
    if limit is None:
        return None
    if not _is_int(limit) or limit < 0:  # type: ignore[operator]
        raise InvalidRequestError(f"limit must be None or an int >= 0, got {shown(limit)}")
    assert isinstance(limit, int)  # noqa: S101
    return limit


def check_stoplist_type(value: object) -> StoplistType:
    """A stop-list type: sms, viber, rcs or whatsapp."""
    if isinstance(value, str):
        try:
            return StoplistType(value)
        except ValueError:
            pass
    allowed = ", ".join(t.value for t in StoplistType)
    raise InvalidRequestError(f"stop-list type must be one of {allowed}; got {shown(value)}")


SEARCH_OPERATORS = frozenset({"like", "=", ">=", ">", "<", "<="})
SORT_WAYS = frozenset({"asc", "desc"})


def check_choice(value: object, name: str, allowed: Iterable[str]) -> str:
    """One of a fixed set of strings."""
    options = sorted(allowed)
    if not isinstance(value, str) or value not in options:
        raise InvalidRequestError(f"{name} must be one of {', '.join(options)}; got {shown(value)}")
    return value


def check_search(
    field: object,
    operator: object,
    value: object,
    *,
    fields: Iterable[str],
    custom_field_ids: bool = False,
) -> list[tuple[str, str | int | float | bool | None]]:
    """The ``search[...]`` query parameters of a search endpoint.

    Args:
        field: Field to search; with ``custom_field_ids`` also a field id.
        operator: like, =, >=, >, <, <=.
        value: What to compare with (str, int or float).
        fields: The searchable field names of the endpoint.
        custom_field_ids: Whether a custom field id (int >= 1) may be searched.
    """
    if custom_field_ids and _is_int(field):
        field_name = str(check_id(field, "field"))
    elif custom_field_ids and isinstance(field, str) and field.isdigit():
        field_name = str(check_id(int(field), "field"))
    else:
        field_name = check_choice(field, "field", fields)
    op = check_choice(operator, "operator", SEARCH_OPERATORS)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRequestError(f"value must be a str or a number, got {shown(value)}")
    if field_name == "phone" and op == "=":
        # An exact phone is a phone: written as people write it, sent as digits.
        value = check_phone(value, "value")
    return [("search[field]", field_name), ("search[operator]", op), ("search[value]", str(value))]


def check_criteria(
    single: tuple[object, object, object],
    where: object,
    *,
    fields: Iterable[str],
    custom_field_ids: bool = False,
) -> list[tuple[str, str | int | float | bool | None]]:
    """The query parameters of one condition, or of several that must all hold.

    One condition (``field``, ``operator``, ``value``) goes out as ``search[...]``;
    ``where``, a sequence of (field, operator, value), as ``search_fields[N][...]``.
    """
    given = [part is not None for part in single]
    if where is None:
        if not all(given):
            raise InvalidRequestError("search needs field, operator and value (or where=[...])")
        return check_search(*single, fields=fields, custom_field_ids=custom_field_ids)
    if any(given):
        raise InvalidRequestError("pass either field/operator/value or where, not both")
    if isinstance(where, (str, bytes)) or not isinstance(where, Iterable):
        raise InvalidRequestError(
            f"where must be a list of (field, operator, value), got {shown(where)}"
        )
    params: list[tuple[str, str | int | float | bool | None]] = []
    for index, condition in enumerate(where):
        if not isinstance(condition, (tuple, list)) or len(condition) != 3:  # noqa: PLR2004
            raise InvalidRequestError(
                f"where[{index}] must be (field, operator, value), got {shown(condition)}"
            )
        for name, item in check_search(
            *condition, fields=fields, custom_field_ids=custom_field_ids
        ):
            params.append((name.replace("search[", f"search_fields[{index}][", 1), item))
    if not params:
        raise InvalidRequestError("where needs at least one (field, operator, value)")
    return params


def check_sort(
    sort: object, way: object, sorts: Iterable[str]
) -> list[tuple[str, str | int | float | bool | None]]:
    """The ``sort`` and ``way`` query parameters (None: the API's default)."""
    params: list[tuple[str, str | int | float | bool | None]] = []
    if sort is not None:
        params.append(("sort", check_choice(sort, "sort", sorts)))
    if way is not None:
        params.append(("way", check_choice(way, "way", SORT_WAYS)))
    return params


def check_text(value: object, name: str, low: int, high: int) -> str:
    """A string of ``low`` to ``high`` characters."""
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise InvalidRequestError(
            f"{name} must be a str of {low} to {high} characters, got {shown(value)}"
        )
    return value


def check_bool(value: object, name: str) -> bool:
    """A real bool (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise InvalidRequestError(f"{name} must be True or False, got {shown(value)}")
    return value


def check_prefetch(value: object) -> int:
    """Pages fetched concurrently: an int from 1 to 64."""
    if not _is_int(value) or not 1 <= value <= MAX_PREFETCH:  # type: ignore[operator]
        raise InvalidRequestError(
            f"prefetch must be an int from 1 to {MAX_PREFETCH}, got {shown(value)}"
        )
    assert isinstance(value, int)  # noqa: S101
    return value


def check_concurrency(value: object) -> int:
    """Calls in flight for a bulk operation: an int from 1 to 256."""
    if not _is_int(value) or not 1 <= value <= MAX_BULK_CONCURRENCY:  # type: ignore[operator]
        raise InvalidRequestError(
            f"concurrency must be an int from 1 to {MAX_BULK_CONCURRENCY}, got {shown(value)}"
        )
    assert isinstance(value, int)  # noqa: S101
    return value


def check_phones(values: object, name: str = "phones") -> list[int]:
    """A collection of phone numbers."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidRequestError(f"{name} must be a collection of ints, got {shown(values)}")
    return [check_phone(value, f"each of {name}") for value in values]


def check_stoplist_types(values: object) -> list[str]:
    """One or more stop-list types, as the API's strings."""
    if isinstance(values, (str, StoplistType)):
        values = [values]
    if not isinstance(values, Iterable):
        raise InvalidRequestError(
            f"types must be a collection of stop-list types, got {shown(values)}"
        )
    kinds = [check_stoplist_type(value).value for value in values]
    if not kinds:
        raise InvalidRequestError("types must name at least one stop list")
    return list(dict.fromkeys(kinds))


def check_fields(fields: object) -> list[dict[str, object]]:
    """Custom field values ``{field_id: value}`` as the API's request pairs."""
    if fields is None:
        return []
    if not isinstance(fields, Mapping):
        raise InvalidRequestError(
            f"fields must be a mapping of field id to value, got {shown(fields)}"
        )
    pairs: list[dict[str, object]] = []
    for key, value in fields.items():
        field_id = check_id(key, "a custom field id")
        if not isinstance(value, str):
            raise InvalidRequestError(
                f"custom field {field_id} must have a str value, got {shown(value)}"
            )
        pairs.append({"id": field_id, "value": value})
    return pairs


def one_of_named(
    new: V | None, old: V | None, new_name: str, old_name: str
) -> tuple[V | None, str]:
    """The value given under the SDK's word or the API's, and the word the caller used."""
    if new is not None and old is not None:
        raise InvalidRequestError(
            f"pass {new_name}= or {old_name}= (the same thing in the API's words), not both"
        )
    return (old, old_name) if new is None and old is not None else (new, new_name)


# Longest repr of a bad value an error message quotes whole.
_SHOWN = 80


def shown(value: object) -> str:
    """A bad value as an error message quotes it: its repr, cut when long."""
    text = repr(value)
    if len(text) <= _SHOWN:
        return text
    size = f", {len(value)} long" if isinstance(value, (str, bytes, list, tuple, dict)) else ""
    return f"{text[: _SHOWN - 20]}...(cut{size})"


def check_timeout(timeout: object) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is None:
        return httpx.Timeout(None)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidRequestError(
            f"timeout must be seconds > 0, an httpx.Timeout or None, got {timeout!r}"
        )
    return httpx.Timeout(float(timeout))


def check_total(total_timeout: object) -> float | None:
    if total_timeout is None:
        return None
    if (
        isinstance(total_timeout, bool)
        or not isinstance(total_timeout, (int, float))
        or math.isnan(total_timeout)
        or total_timeout <= 0
    ):
        raise InvalidRequestError(
            f"total_timeout must be seconds > 0 or None, got {total_timeout!r}"
        )
    return float(total_timeout)


def check_retries(max_retries: object) -> int:
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise InvalidRequestError(f"max_retries must be an int >= 0, got {max_retries!r}")
    return max_retries


def check_api_key(key: str | None) -> str:
    """The API key given or found in the environment; refused when there is none."""
    if not key:
        raise InvalidRequestError(
            "no API key: pass Client(api_key=...) or set the BSG_API_KEY environment variable"
        )
    return key


def check_client_options(
    *, retry_backoff: object, rate_limit: object, max_concurrency: object, max_retry_after: object
) -> None:
    """The numeric options of ``Client()`` that only need a range check."""
    if not isinstance(retry_backoff, (int, float)) or retry_backoff < 0:
        raise InvalidRequestError(f"retry_backoff must be >= 0, got {retry_backoff!r}")
    if rate_limit is not None and (not isinstance(rate_limit, (int, float)) or not rate_limit > 0):
        raise InvalidRequestError(f"rate_limit must be None or > 0, got {rate_limit!r}")
    if (
        not isinstance(max_concurrency, int)
        or isinstance(max_concurrency, bool)
        or max_concurrency < 1
    ):
        raise InvalidRequestError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
    if (
        not isinstance(max_retry_after, (int, float))
        or isinstance(max_retry_after, bool)
        or not 0 < max_retry_after < math.inf
    ):
        raise InvalidRequestError(
            f"max_retry_after must be a number of seconds > 0, got {max_retry_after!r}"
        )


def check_sources(*, http_client: object, transport: object, http_backend: str) -> None:
    """At most one of a lent client, a lent transport or a backend of our own."""
    if http_client is not None and transport is not None:
        raise InvalidRequestError("pass either http_client or transport, not both")
    if http_backend == "aiohttp" and (http_client is not None or transport is not None):
        raise InvalidRequestError(
            "http_backend chooses our own transport: drop it, or drop http_client/transport"
        )


def check_base_url(url: str) -> httpx.URL:
    """The API root as a URL ending in ``/``; refused unless http(s) with a host."""
    base = httpx.URL(url.rstrip("/") + "/")
    if base.scheme not in {"http", "https"} or not base.host:
        raise InvalidRequestError(f"base_url must be an http(s) URL, got {url!r}")
    return base


_LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_event_hooks(
    hooks: Mapping[str, Sequence[Callable[..., Any]]] | None,
) -> dict[str, list[Callable[..., Any]]]:
    """The hooks as lists under "request" and "response"; refused when anything else."""
    if hooks is None:
        return {}
    if not isinstance(hooks, Mapping):
        raise InvalidRequestError(
            f'event_hooks must be a mapping like {{"request": [...], "response": [...]}}, '
            f"got {type(hooks).__name__}"
        )
    checked: dict[str, list[Callable[..., Any]]] = {}
    for name, listed in hooks.items():
        if name not in ("request", "response"):
            raise InvalidRequestError(f'event_hooks takes "request" and "response", got {name!r}')
        if callable(listed) or isinstance(listed, (str, bytes)):
            raise InvalidRequestError(
                f"event_hooks[{name!r}] must be a list of callables, got {type(listed).__name__}"
            )
        found = list(listed)
        for hook in found:
            if not callable(hook):
                raise InvalidRequestError(
                    f"event_hooks[{name!r}] holds {hook!r}, which is not callable"
                )
        checked[name] = found
    return checked
