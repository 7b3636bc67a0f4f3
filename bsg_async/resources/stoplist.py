"""The stop list: phones that must not receive SMS, Viber, RCS or WhatsApp."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsg_async._converter import read_items
from bsg_async._validate import (
    check_id,
    check_ids,
    check_phones,
    check_stoplist_type,
    check_stoplist_types,
    one_of_named,
)
from bsg_async.models import StoplistEntry, StoplistType
from bsg_async.resources._base import Resource, chunked, ignore_body

if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterable

    from typing_extensions import Unpack

    from bsg_async._pagination import Paginator, PagingOptions
    from bsg_async.resources._base import Params

__all__ = ["Stoplist"]

ADD_CHUNK = 1000
REMOVE_CHUNK = 200
SEARCH_FIELDS = frozenset({"id", "phone", "created_at", "type"})
SORTS = frozenset({"id", "phone"})


def _read_entries(body: bytes) -> builtins.list[StoplistEntry]:
    return read_items(body, StoplistEntry)


class Stoplist(Resource):
    """The account's stop lists (``/stoplist``)."""

    def list(
        self,
        *,
        type: StoplistType | str | None = None,
        **paging: Unpack[PagingOptions],
    ) -> Paginator[StoplistEntry]:
        """Iterate over stop-list entries, optionally of one type.

        The seed documentation names the filter ``types`` and the spec
        ``type``; both are sent, so either reading of the API filters.

        Args:
            type: sms, viber, rcs or whatsapp (None: every type).
            **paging: ``page_size`` (15 to 500, default 500), ``offset``,
                ``limit`` and ``prefetch``: see ``PagingOptions``.

        Raises:
            InvalidRequestError: An argument is out of range (nothing sent).
        """
        params: Params = []
        if type is not None:
            kind = check_stoplist_type(type).value
            params = [("type", kind), ("types", kind)]
        return self._paginate(
            "/stoplist",
            StoplistEntry,
            params,
            paging=paging,
        )

    def search(
        self,
        *,
        field: str | None = None,
        operator: str | None = None,
        value: str | float | None = None,
        where: Iterable[tuple[str, str, str | float]] | None = None,
        sort: str | None = None,
        way: str | None = None,
        list_id: int | None = None,
        contact_group_id: int | None = None,
        **paging: Unpack[PagingOptions],
    ) -> Paginator[StoplistEntry]:
        """Iterate over stop-list entries matching one condition.

        Args:
            field: id, phone, created_at or type.
            operator: like, =, >=, >, <, <=.
            value: The value to compare with.
            where: Several conditions that must all hold, as
                (field, operator, value) tuples, instead of the three above.
            sort: id or phone.
            way: asc or desc.
            list_id: Only phones that are in this contact list.
            contact_group_id: The same as ``list_id``, in the API's word.
            **paging: ``page_size`` (15 to 500, default 500), ``offset``,
                ``limit`` and ``prefetch``: see ``PagingOptions``.
        """
        extra: Params = []
        chosen, word = one_of_named(list_id, contact_group_id, "list_id", "contact_group_id")
        if chosen is not None:
            extra = [("contact_group_id", check_id(chosen, word))]
        return self._search(
            "/stoplist/search",
            StoplistEntry,
            (field, operator, value),
            where,
            (sort, way),
            fields=SEARCH_FIELDS,
            sorts=SORTS,
            extra=extra,
            paging=paging,
        )

    async def add(
        self, phones: Iterable[int | str], *, types: Iterable[StoplistType | str] = ("sms",)
    ) -> builtins.list[StoplistEntry]:
        """Put phones on stop lists; return their entries.

        Phones go out in calls of at most 1,000 (the API's limit). Adding a
        phone that is already there is harmless, so this call is retried.

        Args:
            phones: Phone numbers, 9 to 15 digits.
            types: Stop lists to add them to (sms, viber, rcs, whatsapp).

        Raises:
            InvalidRequestError: A bad phone or type (nothing sent).
        """
        numbers = check_phones(phones)
        kinds = check_stoplist_types(types)
        entries: builtins.list[StoplistEntry] = []
        for chunk in chunked(numbers, ADD_CHUNK):
            entries += await self._request(
                "POST",
                "/stoplist/attach",
                json={"phones": chunk, "types": kinds},
                idempotent=True,
                parse=_read_entries,
            )
        return entries

    async def remove(
        self, entry_ids: Iterable[int], *, types: Iterable[StoplistType | str] = ("sms",)
    ) -> None:
        """Take entries off stop lists (by entry id, not phone).

        Ids go out in calls of at most 200 (the API's limit).

        Args:
            entry_ids: Ids of stop-list entries (``StoplistEntry.id``).
            types: Stop lists to remove them from.

        Raises:
            InvalidRequestError: A bad id or type (nothing sent).
        """
        ids = check_ids(entry_ids, "entry_ids")
        kinds = check_stoplist_types(types)
        for chunk in chunked(ids, REMOVE_CHUNK):
            await self._request(
                "POST",
                "/stoplist/detach",
                json={"ids": chunk, "types": kinds},
                idempotent=True,
                parse=ignore_body,
            )
