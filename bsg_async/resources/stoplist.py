"""The stop list: phones that must not receive SMS, Viber, RCS or WhatsApp."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsg_async._converter import read_page
from bsg_async._pagination import Paginator
from bsg_async._validate import check_limit, check_offset, check_page_size, check_stoplist_type
from bsg_async.models import Page, StoplistEntry, StoplistType
from bsg_async.resources._base import Resource

if TYPE_CHECKING:
    from bsg_async.resources._base import Params

__all__ = ["Stoplist"]


class Stoplist(Resource):
    """The account's stop lists (``/stoplist``)."""

    def list(
        self,
        *,
        type: StoplistType | str | None = None,
        page_size: int = 500,
        offset: int = 0,
        limit: int | None = None,
    ) -> Paginator[StoplistEntry]:
        """Iterate over stop-list entries, optionally of one type.

        The seed documentation names the filter ``types`` and the spec
        ``type``; both are sent, so either reading of the API filters.

        Args:
            type: sms, viber, rcs or whatsapp (None: every type).
            page_size: Entries per request, 15 to 500.
            offset: Where to start.
            limit: Most entries to return (None: all).

        Raises:
            InvalidRequestError: An argument is out of range (nothing sent).
        """
        kind = None if type is None else check_stoplist_type(type)
        size = check_page_size(page_size)
        start = check_offset(offset)
        cap = check_limit(limit)

        async def fetch(at: int, count: int) -> Page[StoplistEntry]:
            params: Params = [("page[limit]", count), ("page[offset]", at)]
            if kind is not None:
                params = [*params, ("type", kind.value), ("types", kind.value)]
            return await self._request(
                "GET",
                "/stoplist",
                params=params,
                parse=lambda body: read_page(body, StoplistEntry, at),
            )

        return Paginator(fetch, page_size=size, offset=start, limit=cap)
