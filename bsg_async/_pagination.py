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
    from collections.abc import Awaitable, Callable, Iterator

__all__ = ["ItemIterator", "PageIterator", "Paginator"]

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
        return f"Paginator(page_size={self.page_size}, offset={self.offset}, limit={self.limit})"

    def pages(self) -> PageIterator[T]:
        """Iterate over pages one after another until ``total`` is exhausted."""
        return PageIterator(self)

    def __aiter__(self) -> ItemIterator[T]:
        """Iterate over every item, page after page."""
        return ItemIterator(PageIterator(self))

    async def collect(self) -> list[T]:
        """Fetch every page and return all items in one list."""
        items: list[T] = []
        async for page in self.pages():
            items.extend(page.items)
        return items


class PageIterator(Generic[T]):
    """Async iterator of a paginator's pages.

    A plain object rather than an async generator: abandoning it (``break``,
    cancellation) leaves nothing to finalise, and no request is in flight
    between two ``__anext__`` calls.
    """

    def __init__(self, paginator: Paginator[T]) -> None:
        self._fetch = paginator._fetch  # noqa: SLF001 - same module
        self._page_size = paginator.page_size
        self._offset = paginator.offset
        self._remaining = paginator.limit
        self._done = self._remaining == 0

    def __aiter__(self) -> PageIterator[T]:
        return self

    async def __anext__(self) -> Page[T]:
        if self._done:
            raise StopAsyncIteration
        offset, remaining = self._offset, self._remaining
        ask = self._page_size
        if remaining is not None:
            ask = max(MIN_PAGE_SIZE, min(ask, remaining))
        try:
            page = await self._fetch(offset, ask)
        except BSGError as exc:
            exc.offset = offset
            raise
        received = len(page.items)
        items = page.items if remaining is None else page.items[:remaining]
        # Advance by what the server sent; stop at an empty or short page or
        # at the total this page reported, so a shifting total cannot loop.
        self._offset = offset + received
        if remaining is not None:
            self._remaining = remaining - len(items)
        self._done = received < ask or self._offset >= page.total or self._remaining == 0
        if not items:
            self._done = True
            raise StopAsyncIteration
        return Page(items=items, offset=offset, total=page.total)

    async def aclose(self) -> None:
        """Stop early; no further page is requested."""
        self._done = True


class ItemIterator(Generic[T]):
    """Async iterator of a paginator's items, pulling pages as it goes."""

    def __init__(self, pages: PageIterator[T]) -> None:
        self._pages = pages
        self._current: Iterator[T] = iter(())

    def __aiter__(self) -> ItemIterator[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            for item in self._current:
                return item
            page = await self._pages.__anext__()
            self._current = iter(page.items)

    async def aclose(self) -> None:
        """Stop early; no further page is requested."""
        await self._pages.aclose()
