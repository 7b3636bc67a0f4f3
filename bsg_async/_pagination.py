"""The one paginator every list endpoint uses.

The API pages by offset, and offset paging is not a snapshot: rows added or
removed while paging shift later pages, ``total`` may change from page to
page, and a page may come back short or empty before ``total`` is reached.
The paginator therefore advances by what each page actually held, re-reads
``total`` from every page, and stops at the first empty or short page.

Against a server that never ends (a total of 10**18, a total that grows on
every page, pages that repeat the same rows) that is not enough, so a walk
also stops, with ``PagingError``, at a total above ``MAX_TOTAL``, at a total
grown past twice the first page's plus ``TOTAL_GROWTH`` rows, and at a page
whose every row came in one of the ``RECENT_PAGES`` pages before it. So it
always ends.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

import anyio

from bsg_async._background import Background
from bsg_async._errors import BSGError, PagingError
from bsg_async._frames import Tabular
from bsg_async._progress import progress_bar, set_total
from bsg_async._validate import MIN_PAGE_SIZE
from bsg_async.models import Page

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping
    from types import TracebackType

    from anyio.abc import TaskGroup

    from bsg_async._frames import Table

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "PAGING_KEYWORDS",
    "ItemIterator",
    "PageIterator",
    "PageStream",
    "Paginator",
    "PagingOptions",
]

# What forgetting ``async`` says (``await`` of an iterator, or a plain ``for``).
_NOT_AWAITABLE = (
    "a {kind} is not awaited: iterate with `async for item in {what}:`, or get a list"
    " with `await {what}.collect()`"
)
_NOT_ITERABLE = (
    "a {kind} is iterated with `async for item in {what}:` (inside an async function), or"
    " collected with `await {what}.collect()`; a plain `for` cannot wait for pages"
)

# Limits of a walk against a server that never ends (see the module's notes).
MAX_TOTAL = 100_000_000
TOTAL_GROWTH = 10_000
RECENT_PAGES = 16

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 500


class PagingOptions(TypedDict, total=False):
    """The paging keywords of every list and search call, declared once.

    ``client.contacts.list(page_size=100, limit=1_000)`` passes them one by
    one; a dict typed ``PagingOptions`` can be passed with ``**``.
    """

    page_size: int
    """Rows per request, 15 to 500 (default 500)."""
    offset: int
    """Where to start (default 0); a failed walk's ``err.offset`` resumes it."""
    limit: int | None
    """Most rows to return (default None: all)."""
    prefetch: int
    """Pages fetched concurrently once the first page told the total (default 1)."""


PAGING_KEYWORDS = frozenset(PagingOptions.__annotations__)
# What a progress bar over pages calls its items.
_BAR_LABELS = {"Contact": "contacts", "ContactList": "lists", "StoplistEntry": "stop list"}


class Paginator(Tabular, Generic[T]):
    """An auto-paginating async iterator over a list endpoint.

    ``async for item in paginator`` yields items; ``paginator.pages()`` yields
    ``Page`` objects; ``await paginator.collect()`` returns a list and
    ``await paginator.to_pandas()`` a DataFrame. Each
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
        prefetch: int = 1,
        item_type: type[T] | None = None,
        field_names: Callable[[], Awaitable[Mapping[int, str]]] | None = None,
    ) -> None:
        self._fetch = fetch
        self.page_size = page_size
        self.offset = offset
        self.limit = limit
        self.prefetch = prefetch
        self.item_type = item_type
        self._resolve_names = field_names

    def __repr__(self) -> str:
        return (
            f"Paginator(page_size={self.page_size}, offset={self.offset}, "
            f"limit={self.limit}, prefetch={self.prefetch})"
        )

    if not TYPE_CHECKING:  # hidden from type checkers, which flag these mistakes already

        def __await__(self) -> None:
            raise TypeError(_NOT_AWAITABLE.format(kind="paginator", what="client.contacts.list()"))

        def __iter__(self) -> None:
            raise TypeError(_NOT_ITERABLE.format(kind="paginator", what="client.contacts.list()"))

    def pages(self) -> PageIterator[T]:
        """Iterate over pages one after another until ``total`` is exhausted."""
        return PageIterator(self)

    def stream(self) -> PageStream[T]:
        """Pages through a sliding window of ``prefetch`` requests, in a task group you hold.

        ``async with paginator.stream() as pages: async for page in pages: ...``
        keeps ``prefetch`` requests in flight continuously: as each page is
        handed out, the next request starts. Pages come out in offset order;
        leaving the block (``break``, an error, cancellation) cancels what is
        still in flight, so at most ``prefetch`` requests are wasted.
        """
        return PageStream(self)

    def __aiter__(self) -> ItemIterator[T]:
        """Iterate over every item, page after page."""
        return ItemIterator(PageIterator(self))

    async def collect(self, *, progress: bool = False) -> list[T]:
        """Fetch every page and return all items in one list.

        Args:
            progress: Show a progress bar (tqdm, the ``progress`` extra: a
                widget in Jupyter, a bar in a terminal) sized by the first
                page's ``total``, with rate and time left.
        """
        items: list[T] = []
        async with contextlib.aclosing(self._pages_counted(progress)) as pages:
            async for page in pages:
                items.extend(page.items)
        return items

    async def _fill_table(self, table: Table, progress: bool) -> None:
        async with contextlib.aclosing(self._pages_counted(progress)) as pages:
            async for page in pages:
                for item in page.items:
                    table.add(item)

    async def _pages_counted(self, progress: bool) -> AsyncGenerator[Page[T], None]:
        """The pages, counted on a progress bar when ``progress``."""
        name = "" if self.item_type is None else self.item_type.__name__
        what = _BAR_LABELS.get(name, name or "items")
        with progress_bar(progress, total=None, desc=what, unit="item") as bar:
            async for page in self.pages():
                left = max(0, page.total - self.offset)
                set_total(bar, left if self.limit is None else min(left, self.limit))
                bar.update(len(page.items))
                yield page


class _Guard:
    """Ends a walk, with ``PagingError``, when the server's pages could never end it."""

    def __init__(self) -> None:
        self._first_total: int | None = None
        self._recent: deque[frozenset[object]] = deque(maxlen=RECENT_PAGES)

    def check(self, offset: int, page: Page[Any]) -> PagingError | None:
        """The error that ends the walk at this page, or None."""
        total = page.total
        if total > MAX_TOTAL:
            return self._stop(
                offset, f"the server says there are {total:,} rows, more than {MAX_TOTAL:,}"
            )
        if self._first_total is None:
            self._first_total = total
        elif total > 2 * self._first_total + TOTAL_GROWTH:
            return self._stop(
                offset,
                f"the total grew from {self._first_total:,} to {total:,} while paging (more"
                f" than double plus {TOTAL_GROWTH:,}): rows are added faster than they can"
                " be read, or the server counts wrong",
            )
        ids = frozenset(getattr(item, "id", None) for item in page.items)
        if page.items and None not in ids:
            if any(ids <= seen for seen in self._recent):
                return self._stop(
                    offset,
                    f"the page at offset {offset:,} holds only rows already received (ids"
                    f" {min(ids)}..{max(ids)}): the server repeats itself",  # type: ignore[type-var]
                )
            self._recent.append(ids)
        return None

    @staticmethod
    def _stop(offset: int, reason: str) -> PagingError:
        error = PagingError(f"paging stopped at offset {offset:,}: {reason}")
        error.offset = offset
        return error


class _Cursor(Generic[T]):
    """Where a walk stands, and the one set of rules for what each page means.

    Both drivers (``PageIterator`` and ``PageStream``) plan requests with
    ``plan`` and pass every result through ``take``, so they advance, stop
    and give up alike.
    """

    def __init__(self, page_size: int, offset: int, remaining: int | None) -> None:
        self.page_size = page_size
        self.offset = offset  # the next row to hand out
        self.remaining = remaining  # rows still wanted (None: all)
        self.total: int | None = None  # the last total the server gave
        self.done = remaining == 0
        self._guard = _Guard()

    def ask(self, remaining: int | None) -> int:
        """``page[limit]`` to ask for with ``remaining`` rows still wanted (None: all)."""
        if remaining is None:
            return self.page_size
        return max(MIN_PAGE_SIZE, min(self.page_size, remaining))

    def plan(self, start: int, most: int) -> list[tuple[int, int]]:
        """Up to ``most`` (offset, page limit) requests from ``start``, within total and limit.

        One request until the first page has told the total.
        """
        left = None if self.remaining is None else self.remaining - (start - self.offset)
        most = most if self.total is not None else 1
        plan: list[tuple[int, int]] = []
        while len(plan) < most and (self.total is None or start < self.total):
            if left is not None and left <= 0:
                break
            ask = self.ask(left)
            plan.append((start, ask))
            start += ask
            left = None if left is None else left - ask
        return plan

    def take(self, offset: int, ask: int, result: Page[T] | BSGError) -> Page[T] | None:
        """Advance past the page asked at ``offset``; the page to hand out (None: none).

        Raises the page's error (or the guard's), with ``offset`` set; either
        way ``done`` then says whether the walk is over.
        """
        if not isinstance(result, BSGError):
            result = self._guard.check(offset, result) or result
        if isinstance(result, BSGError):
            self.done = True
            result.offset = offset
            raise result
        remaining = self.remaining
        received = len(result.items)
        items = result.items if remaining is None else result.items[:remaining]
        # Advance by what the server sent; stop at an empty or short page or
        # at the total this page reported, so a shifting total cannot loop.
        self.offset, self.total = offset + received, result.total
        if remaining is not None:
            self.remaining = remaining - len(items)
        self.done = (
            not items or received < ask or self.offset >= result.total or self.remaining == 0
        )
        return Page(items=items, offset=offset, total=result.total) if items else None


class PageIterator(Generic[T]):
    """Async iterator of a paginator's pages (``Paginator.pages()``).

    A plain object rather than an async generator: abandoning it (``break``,
    cancellation) leaves nothing to finalise. Without ``prefetch`` no request
    is in flight between two ``__anext__`` calls.

    With ``prefetch`` > 1, once the first page has told the total,
    ``prefetch`` requests stay in flight: as each page is handed out the next
    request starts, in a task of the SDK's own (as ``stream()`` does in a
    task group you hold). Pages still come out in offset order; ``aclose()``
    or dropping the iterator (``break``) cancels what is in flight.
    """

    def __init__(self, paginator: Paginator[T]) -> None:
        self._paginator = paginator
        self._fetch = paginator._fetch  # noqa: SLF001 - same module
        self._prefetch = paginator.prefetch
        self._cursor = _Cursor[T](paginator.page_size, paginator.offset, paginator.limit)
        # With prefetch: the sliding window's pages, and the task fetching them.
        self._stream: PageStream[T] | None = None
        self._producer: Background | None = None

    def __aiter__(self) -> PageIterator[T]:
        return self

    async def _slide(self) -> Page[T]:
        """The next page from the sliding window (``prefetch`` > 1)."""
        stream = self._stream
        if stream is None:
            stream = self._stream = PageStream(self._paginator)
            self._producer = Background(stream._produce)  # noqa: SLF001 - same module
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            self._cursor.done = True
            stream.close()
            producer = self._producer
            if producer is not None:
                await producer.finished.wait()
                if producer.error is not None:
                    raise producer.error from None
            raise
        except BSGError:
            self._cursor.done = True
            stream.close()
            raise

    async def _attempt(self, offset: int, count: int) -> Page[T] | BSGError:
        """One page, or the error it raised (handed out in its turn)."""
        try:
            return await self._fetch(offset, count)
        except BSGError as exc:
            return exc

    async def __anext__(self) -> Page[T]:
        cursor = self._cursor
        if cursor.done:
            raise StopAsyncIteration
        if self._prefetch > 1:
            return await self._slide()
        offset, ask = cursor.offset, cursor.ask(cursor.remaining)
        page = cursor.take(offset, ask, await self._attempt(offset, ask))
        if page is None:
            raise StopAsyncIteration
        return page

    async def aclose(self) -> None:
        """Stop early; no further page is requested (those in flight are cancelled)."""
        self._cursor.done = True
        if self._producer is not None:
            await self._producer.aclose()
        if self._stream is not None:
            self._stream.close()

    def __del__(self) -> None:
        # Dropped unclosed (``break``): cancel the requests in flight.
        if self._producer is not None and self._stream is not None:
            self._producer.stop(then=self._stream.close)


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


class _Fetched(Generic[T]):
    """One planned page: its request's place, and its result once it arrives."""

    def __init__(self, offset: int, ask: int) -> None:
        self.offset = offset
        self.ask = ask
        self.result: Page[T] | BSGError | None = None
        self.arrived = anyio.Event()


class PageStream(Generic[T]):
    """Pages of a paginator through a sliding window of requests (see ``Paginator.stream``)."""

    def __init__(self, paginator: Paginator[T]) -> None:
        self._fetch = paginator._fetch  # noqa: SLF001 - same module
        self._page_size = paginator.page_size
        self._window = max(1, paginator.prefetch)
        self._start = paginator.offset
        self._limit = paginator.limit
        self._group: TaskGroup | None = None
        self._send, self._receive = anyio.create_memory_object_stream[Page[T] | BSGError](0)
        self._done = False

    async def __aenter__(self) -> PageStream[T]:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._produce)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None  # noqa: S101 - entered before
        self._group.cancel_scope.cancel()
        self._receive.close()
        # The body's own exception (an error, Ctrl-C, a cancellation) goes on
        # as it was raised, not wrapped in a group: the task group only has to
        # end the producer, which was just cancelled.
        await self._group.__aexit__(None, None, None)
        return None

    def __aiter__(self) -> PageStream[T]:
        return self

    def close(self) -> None:
        """Stop receiving pages (the producer's next send fails)."""
        self._done = True
        self._receive.close()

    async def __anext__(self) -> Page[T]:
        if self._done:
            raise StopAsyncIteration
        try:
            page = await self._receive.receive()
        except anyio.EndOfStream:
            self._done = True
            raise StopAsyncIteration from None
        if isinstance(page, BSGError):
            self._done = True
            raise page
        return page

    async def _get(self, planned: _Fetched[T]) -> None:
        try:
            planned.result = await self._fetch(planned.offset, planned.ask)
        except BSGError as exc:
            planned.result = exc
        planned.arrived.set()

    def _plan(self, window: deque[_Fetched[T]], cursor: _Cursor[T], fetchers: TaskGroup) -> None:
        """Request pages until ``prefetch`` are ahead (one until the total is known)."""
        planned_to = window[-1].offset + window[-1].ask if window else cursor.offset
        for offset, ask in cursor.plan(planned_to, self._window - len(window)):
            planned = _Fetched[T](offset, ask)
            window.append(planned)
            fetchers.start_soon(self._get, planned)

    async def _produce(self) -> None:
        """Fetch ahead of the consumer in windows that slide; hand pages out in order."""
        cursor = _Cursor[T](self._page_size, self._start, self._limit)
        async with self._send:
            replan = not cursor.done
            while replan:
                async with anyio.create_task_group() as fetchers:
                    replan = await self._slide(fetchers, cursor)
                    fetchers.cancel_scope.cancel()

    async def _slide(self, fetchers: TaskGroup, cursor: _Cursor[T]) -> bool:
        """Hand out pages while the plan holds; True to plan again from ``cursor``."""
        window: deque[_Fetched[T]] = deque()
        while True:
            self._plan(window, cursor, fetchers)
            if not window:
                return False
            head = window.popleft()
            await head.arrived.wait()
            assert head.result is not None  # noqa: S101 - set before arrived
            try:
                page = cursor.take(head.offset, head.ask, head.result)
            except BSGError as exc:
                await self._send.send(exc)
                return False
            if page is not None:
                # Blocks until the consumer takes it: a slow consumer holds
                # the window, never more than ``prefetch`` pages ahead.
                await self._send.send(page)
            if cursor.done:
                return False
            if cursor.offset != head.offset + head.ask:
                # A page larger than asked: the planned offsets no longer
                # line up; drop them and plan again from where we are.
                return True
