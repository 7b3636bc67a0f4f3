"""What every resource receives from the client: one function that sends a request."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from bsg_async._converter import read_items, read_page
from bsg_async._errors import BSGError, RateLimitError, UnprocessableEntityError
from bsg_async._pagination import DEFAULT_PAGE_SIZE, PAGING_KEYWORDS, Paginator
from bsg_async._validate import (
    check_concurrency,
    check_criteria,
    check_limit,
    check_offset,
    check_page_size,
    check_prefetch,
    check_sort,
)
from bsg_async.models import Contact, ContactField

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Mapping

    from bsg_async._bulk import BulkIterator
    from bsg_async._pagination import PagingOptions
    from bsg_async.models import Page

__all__ = [
    "ConcurrencyCappedWarning",
    "FirstOccurrences",
    "Params",
    "Repeat",
    "Requester",
    "Resource",
    "chunk_query",
    "chunked",
    "ignore_body",
    "settle_create",
]

logger = logging.getLogger("bsg_async")

T = TypeVar("T")
V = TypeVar("V")
R = TypeVar("R")

Params = list[tuple[str, "str | int | float | bool | None"]]


class Requester(Protocol):
    """The client's single edge: send, map errors, and parse the JSON body."""

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[bytes], T],
        params: Params | None = None,
        json: object = None,
        idempotent: bool | None = None,
        write: bool = False,
    ) -> T:
        """Send one request and return ``parse(body)``.

        ``write`` marks a create or an update: BSG's duplicate-request
        detection may refuse it, and then it is not sent again.
        """
        ...


def ignore_body(_: object) -> None:
    """Parser for answers whose body carries nothing (204, or an empty object)."""


def chunked(values: list[V], size: int) -> Iterator[list[V]]:
    """Split ``values`` into lists of at most ``size`` items."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


# Length of one encoded "name%5B%5D=value&" pair beyond the name and value.
_PAIR_OVERHEAD = len("%5B%5D=&") - len("[]")


def chunk_query(
    values: list[int], name: str, max_items: int, max_chars: int
) -> Iterator[list[int]]:
    """Split ids sent as repeated query parameters by count and by URL length."""
    chunk: list[int] = []
    size = 0
    for value in values:
        pair = len(name) + len(str(value)) + _PAIR_OVERHEAD
        if chunk and (len(chunk) >= max_items or size + pair > max_chars):
            yield chunk
            chunk, size = [], 0
        chunk.append(value)
        size += pair
    if chunk:
        yield chunk


class ConcurrencyCappedWarning(UserWarning):
    """A bulk call asked for more requests in flight than its client allows."""


class Resource:
    """Base of the resource classes: holds the client's requester.

    Args:
        request: The client's single edge.
        max_concurrency: The client's in-flight cap (bulk calls run within it).
    """

    def __init__(self, request: Requester, *, max_concurrency: int | None = None) -> None:
        self._request = request
        self._max_concurrency = max_concurrency
        self._warned = False

    def _bulk_concurrency(self, concurrency: object, call: str) -> int:
        """``concurrency`` checked, with a warning (once) when the client caps it."""
        value = check_concurrency(concurrency)
        cap = self._max_concurrency
        if cap is not None and value > cap and not self._warned:
            self._warned = True
            warnings.warn(
                f"{call}(concurrency={value}) runs at most {cap} requests at a time: the"
                f" client's max_concurrency is {cap}; pass Client(max_concurrency={value})"
                " for more",
                ConcurrencyCappedWarning,
                stacklevel=3,
            )
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} resource>"

    async def _fetch_fields(self) -> list[ContactField]:
        """Every custom field (``GET /contacts/fields``): ``fields.list()`` and column names."""
        return await self._request(
            "GET", "/contacts/fields", parse=lambda body: read_items(body, ContactField)
        )

    async def _field_names(self) -> Mapping[int, str]:
        """Custom field id -> name, read once per table (``field_names=True``)."""
        return {field.id: field.name for field in await self._fetch_fields()}

    def _bulk(
        self,
        kind: type[BulkIterator[R]],
        func: Callable[[Any], Awaitable[Any]],
        items: Iterable[Any] | AsyncIterable[Any],
        concurrency: int,
        what: str,
        *,
        exceptions: bool = False,
        finish_in_flight: bool = False,
        prepare: Callable[[Any], Any] | None = None,
    ) -> BulkIterator[R]:
        """A bulk call's iterator of contacts, typed by ``kind`` (with exceptions or not).

        ``finish_in_flight``: on a failure, let calls in flight finish (writes)
        instead of cancelling them (reads).
        """
        return kind(
            func,
            items,
            concurrency=concurrency,
            return_exceptions=exceptions,
            cancel_on_error=not finish_in_flight,
            item_type=Contact,
            field_names=self._field_names,
            what=what,
            prepare=prepare,
            telemetry=getattr(self._request, "telemetry", None),
            operation=f"{type(self).__name__.lower()}.{what}",
        )

    def _paginate(
        self, path: str, cls: type[T], params: Params, *, paging: PagingOptions
    ) -> Paginator[T]:
        """A paginator over ``GET path`` with ``params`` plus the page parameters."""
        _check_keywords(paging)
        size = check_page_size(paging.get("page_size", DEFAULT_PAGE_SIZE))
        start = check_offset(paging.get("offset", 0))
        cap = check_limit(paging.get("limit"))
        window = check_prefetch(paging.get("prefetch", 1))

        async def fetch(at: int, count: int) -> Page[T]:
            query: Params = [("page[limit]", count), ("page[offset]", at), *params]
            return await self._request(
                "GET", path, params=query, parse=lambda body: read_page(body, cls, at)
            )

        return Paginator(
            fetch,
            page_size=size,
            offset=start,
            limit=cap,
            prefetch=window,
            item_type=cls,
            field_names=self._field_names,
        )

    def _search(
        self,
        path: str,
        cls: type[T],
        criteria: tuple[object, object, object],
        where: object,
        ordering: tuple[object, object],
        *,
        fields: Iterable[str],
        sorts: Iterable[str],
        custom_field_ids: bool = False,
        extra: Params | None = None,
        paging: PagingOptions,
    ) -> Paginator[T]:
        """A paginator over a search endpoint (conditions, ``sort``, ``way``)."""
        _check_keywords(paging)
        params = check_criteria(criteria, where, fields=fields, custom_field_ids=custom_field_ids)
        params += check_sort(*ordering, sorts)
        params += extra or []
        return self._paginate(path, cls, params, paging=paging)


def _check_keywords(paging: PagingOptions) -> None:
    """Refuse a misspelt paging keyword as Python refuses any unexpected one."""
    unknown = sorted(set(paging) - PAGING_KEYWORDS)
    if unknown:
        raise TypeError(f"got an unexpected keyword argument {unknown[0]!r}")


# Lookups-and-resends after a create whose outcome was unknown.
CREATE_RECOVERIES = 3


def _refused_as(error: UnprocessableEntityError | RateLimitError) -> str:
    """Why a create was refused, when the reason means it may be this call's own ("")."""
    if isinstance(error, RateLimitError):
        return "a duplicate" if error.duplicate else ""
    # A 422 saying the thing to create exists (a phone, a list name).
    return "existing" if "already exist" in error.message.lower() else ""


async def settle_create(
    send: Callable[[], Awaitable[T]],
    lookup: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    recover: bool,
) -> T:
    """Send a create until its outcome is known; return what this call created.

    The rule (README, "Exactly once"): a result means this call's request put
    the object there; anything else is an error that says why.

    - An attempt whose outcome is unknown (a timeout, a dropped connection, a
      5xx) is settled by ``lookup`` before anything is sent again: found, it
      is the result; absent, the create is sent again (up to 3 times).
    - A re-send refused as "already exists", or as a duplicate of an
      identical request (BSG's 429), after such an attempt means the earlier
      attempt was applied late: ``lookup`` settles it and finds the result.
    - Refusals on the first attempt are final (the object was there before
      the call, or an identical request came from elsewhere): no lookup.
    """
    unknown = False  # an earlier attempt of this call may have been applied
    recoveries = 0
    while True:
        try:
            return await send()
        except (UnprocessableEntityError, RateLimitError) as exc:
            refused_as = _refused_as(exc)
            if not (unknown and refused_as):
                raise
            found = await _settling_lookup(lookup, exc)
            logger.info(
                "create of a %s settled by lookup: the re-send was refused as %s;"
                " this call's earlier attempt had been applied",
                what,
                refused_as,
            )
            return found
        except BSGError as exc:
            if not (recover and exc.may_have_been_applied) or recoveries >= CREATE_RECOVERIES:
                raise
            recoveries += 1
            try:
                maybe = await lookup()
            except BSGError:
                raise exc from None
            if maybe is not None:
                logger.info("create of a %s settled by lookup: it was applied", what)
                return maybe
            unknown = True
            logger.info("create of a %s settled by lookup: not applied, sending again", what)


async def _settling_lookup(lookup: Callable[[], Awaitable[T | None]], refusal: BSGError) -> T:
    """The object a refused re-send points at; the refusal stands when it cannot be found."""
    try:
        found = await lookup()
    except BSGError:
        raise refusal from None
    if found is None:
        raise refusal
    return found


@attrs.frozen
class Repeat:
    """An input item that repeats an earlier one of the same bulk call."""

    index: int
    first: int
    key: object


class FirstOccurrences:
    """Marks each bulk input item that repeats an earlier item's key as a ``Repeat``.

    Called with every item of one bulk call, in input order (the bulk
    iterator's ``prepare``). Items whose key cannot be read (``key`` returns
    None) pass through for the call to refuse.
    """

    def __init__(self, key: Callable[[Any], object]) -> None:
        self._key = key
        self._seen: dict[object, int] = {}
        self._index = 0

    def __call__(self, item: object) -> object:
        """The item, or a ``Repeat`` naming the earlier item with its key."""
        index = self._index
        self._index += 1
        key = self._key(item)
        if key is None:
            return item
        first = self._seen.setdefault(key, index)
        return item if first == index else Repeat(index, first, key)
