"""The one paginator every list endpoint uses.

The API pages by offset, and offset paging is not a snapshot: rows added or
removed while paging shift later pages, ``total`` may change from page to
page, and a page may come back short or empty before ``total`` is reached.
The paginator therefore advances by what each page actually held, re-reads
``total`` from every page, and stops at the first empty or short page, so it
always ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from bsg_async._errors import BSGError
from bsg_async._validate import MIN_PAGE_SIZE
from bsg_async.models import Page

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["Paginator"]

T = TypeVar("T")


class Paginator(Generic[T]):
    """An auto-paginating async iterator over a list endpoint.

    ``async for item in paginator`` yields items; ``paginator.pages()`` yields
    ``Page`` objects; ``await paginator.collect()`` returns a list. Each
    iteration starts again from the paginator's ``offset``.

    When a page fails, the error's ``offset`` attribute says where paging
    stopped: ``client.contacts.list(offset=err.offset)`` resumes there.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Awaitable[Page[T]]],
        *,
        page_size: int,
        offset: int,
        limit: int | None,
    ) -> None:
        self._fetch = fetch
        self.page_size = page_size
        self.offset = offset
        self.limit = limit

    def __repr__(self) -> str:
        return (
            f"Paginator(page_size={self.page_size}, offset={self.offset}, limit={self.limit})"
        )

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield pages one after another until ``total`` is exhausted."""
        offset = self.offset
        remaining = self.limit
        while remaining is None or remaining > 0:
            ask = self.page_size if remaining is None else max(
                MIN_PAGE_SIZE, min(self.page_size, remaining)
            )
            try:
                page = await self._fetch(offset, ask)
            except BSGError as exc:
                exc.offset = offset
                raise
            received = len(page.items)
            items = page.items if remaining is None else page.items[:remaining]
            if not items:
                return
            yield Page(items=items, offset=offset, total=page.total)
            offset += received
            if remaining is not None:
                remaining -= len(items)
            if received < ask or offset >= page.total:
                return

    async def __aiter__(self) -> AsyncIterator[T]:
        """Yield every item, page after page."""
        async for page in self.pages():
            for item in page.items:
                yield item

    async def collect(self) -> list[T]:
        """Fetch every page and return all items in one list."""
        return [item async for item in self]
