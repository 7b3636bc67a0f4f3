"""Order-preserving, bounded-concurrency mapping of an async call over many inputs.

The input is consumed lazily, one window of ``concurrency * 16`` items at a
time; a window's calls run in a task group that ends before any result is
handed out, so nothing runs while the consumer holds a result (anyio forbids
yielding from inside a task group) and memory stays bounded for any input
size. Within a window a limiter keeps ``concurrency`` calls in flight, so
only the window's tail runs below full concurrency.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sized,
)
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast

import anyio

from bsg_async._errors import BSGError, BulkError
from bsg_async._frames import Tabular
from bsg_async._pagination import _NOT_AWAITABLE, _NOT_ITERABLE
from bsg_async._progress import progress_bar

if TYPE_CHECKING:
    from bsg_async._frames import Table
    from bsg_async._telemetry import Telemetry

__all__ = ["BulkIterator"]

R = TypeVar("R")

# Results per window, as a multiple of the concurrency.
WINDOW_FACTOR = 16


class _Pending:
    """Marks a call that was cancelled or never started."""


_PENDING = _Pending()


class BulkIterator(Tabular, Generic[R]):
    """The results of a bulk call (``get_many``, ``create_many``), in input order.

    ``async for result in client.contacts.get_many(ids)`` runs the calls,
    ``concurrency`` at a time, and yields each result in the input's order;
    ``await ....collect()`` returns them as a list and ``await ....to_pandas()``
    as a DataFrame. Nothing is sent before iteration starts; ``aclose()`` (or
    leaving the loop) stops it: no further input is read and nothing more is
    sent.

    Without ``return_exceptions`` the first failure raises ``BulkError`` with
    the item's ``index``, its ``cause`` and the later items that succeeded
    anyway (``completed``). With it, a failed item's error (always a
    ``BSGError``) is yielded in its place and the iterator's type says so
    (``BulkIterator[Contact | BSGError]``); any other exception is a bug and
    still raises ``BulkError``.
    """

    def __init__(
        self,
        func: Callable[[Any], Awaitable[R]],
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int,
        return_exceptions: bool,
        cancel_on_error: bool,
        item_type: type | None = None,
        field_names: Callable[[], Awaitable[Mapping[int, str]]] | None = None,
        what: str = "items",
        prepare: Callable[[Any], Any] | None = None,
        telemetry: Telemetry | None = None,
        operation: str = "",
    ) -> None:
        self._func = func
        self._what = what
        # The bulk call's span (a parent of its items' spans), made on the
        # first window and ended when the results end or the iterator closes.
        self._telemetry = telemetry if telemetry is not None and telemetry.active() else None
        self._operation = operation or what
        self._span: Any = None
        self.item_type = item_type
        self._resolve_names = field_names
        self._total = len(items) if isinstance(items, Sized) else None
        self._prepare = prepare
        self._sync: Iterable[Any] | None = None
        self._async: AsyncIterator[Any] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        else:
            self._sync = iter(items)
        self._concurrency = concurrency
        self._window = concurrency * WINDOW_FACTOR
        self._return_exceptions = return_exceptions
        self._cancel_on_error = cancel_on_error
        self._ready: deque[tuple[int, R | BaseException | _Pending]] = deque()
        self._next_index = 0
        self._done = False

    def __repr__(self) -> str:
        size = "" if self._total is None else f" of {self._total}"
        return f"<BulkIterator: {self._what}, {self._next_index} read{size}>"

    def __aiter__(self) -> BulkIterator[R]:
        return self

    if not TYPE_CHECKING:  # hidden from type checkers, which flag these mistakes already

        def __await__(self) -> None:
            raise TypeError(
                _NOT_AWAITABLE.format(kind="bulk call", what=f"client.contacts.{self._what}(...)")
            )

        def __iter__(self) -> None:
            raise TypeError(
                _NOT_ITERABLE.format(kind="bulk call", what=f"client.contacts.{self._what}(...)")
            )

    async def _take(self) -> list[Any]:
        """The next window of input, each item through ``prepare`` (in input order)."""
        batch: list[Any] = []
        if self._sync is not None:
            batch = list(itertools.islice(self._sync, self._window))
        else:
            assert self._async is not None  # noqa: S101
            async for item in self._async:
                batch.append(item)
                if len(batch) >= self._window:
                    break
        prepare = self._prepare
        return batch if prepare is None else [prepare(item) for item in batch]

    async def _fill(self) -> None:  # noqa: C901 - one algorithm, clearer in one place
        batch = await self._take()
        if not batch:
            self._done = True
            return
        start = self._next_index
        self._next_index += len(batch)
        results: list[R | BaseException | _Pending] = [_PENDING] * len(batch)
        limiter = anyio.Semaphore(self._concurrency, fast_acquire=True)
        scopes: dict[int, anyio.CancelScope] = {}
        failed_at: int | None = None

        async def run(position: int, item: object, scope: anyio.CancelScope) -> None:
            nonlocal failed_at
            try:
                with scope:
                    results[position] = await self._func(item)
            except Exception as exc:  # noqa: BLE001 - every failure belongs to its item
                results[position] = exc
                # Only the SDK's own errors are handed out in place: anything
                # else is a bug, and stops the call as without the option.
                if not (self._return_exceptions and isinstance(exc, BSGError)):
                    failed_at = position if failed_at is None else min(failed_at, position)
                    if self._cancel_on_error:
                        # Items before the failure still finish and are
                        # yielded; only later ones are cancelled.
                        for later, later_scope in scopes.items():
                            if later > position:
                                later_scope.cancel()
            finally:
                scopes.pop(position, None)
                limiter.release()

        async with contextlib.AsyncExitStack() as tracing, anyio.create_task_group() as group:
            if self._telemetry is not None:
                if self._span is None:
                    self._span = self._telemetry.start_bulk(self._operation)
                tracing.enter_context(self._telemetry.within(self._span))
            for position, item in enumerate(batch):
                # Acquiring here starts calls strictly in input order.
                await limiter.acquire()
                if failed_at is not None:
                    limiter.release()
                    break
                scope = anyio.CancelScope()
                scopes[position] = scope
                group.start_soon(run, position, item, scope)
        self._ready.extend((start + position, result) for position, result in enumerate(results))
        if failed_at is not None:
            self._done = True  # no further input is read after a failure

    def _end_span(self, error: BaseException | None = None) -> None:
        span, self._span = self._span, None
        if span is not None and self._telemetry is not None:
            self._telemetry.end_bulk(span, self._next_index, error)

    async def __anext__(self) -> R:
        while not self._ready:
            if self._done:
                self._end_span()
                raise StopAsyncIteration
            await self._fill()
        index, result = self._ready.popleft()
        if isinstance(result, BaseException):
            if self._return_exceptions and isinstance(result, BSGError):
                # The caller asked for the SDK's errors in place: R includes them.
                return cast("R", result)
            self._raise(index, result)
        if isinstance(result, _Pending):
            # Cancelled because a later item failed first: raise that error.
            for later, outcome in self._ready:
                if isinstance(outcome, BaseException):
                    self._raise(later, outcome)
            raise RuntimeError("a bulk call was cancelled without an error")  # noqa: TRY004  # pragma: no cover
        return result

    def _raise(self, index: int, error: BaseException) -> NoReturn:
        completed: dict[int, R] = {
            later: outcome
            for later, outcome in self._ready
            if later > index and not isinstance(outcome, (BaseException, _Pending))
        }
        self._ready.clear()
        self._done = True
        self._end_span(error)
        if not isinstance(error, Exception):  # pragma: no cover - only Exceptions are caught
            raise error
        raise BulkError(index, error, completed) from error

    async def collect(self, *, progress: bool = False) -> list[R]:
        """Run the whole input and return the results in input order.

        Args:
            progress: Show a progress bar (tqdm, the ``progress`` extra: a
                widget in Jupyter, a bar in a terminal) with total, rate and
                time left when the input has a length.
        """
        async with contextlib.aclosing(self._counted(progress)) as results:
            return [result async for result in results]

    async def _fill_table(self, table: Table, progress: bool) -> None:
        async with contextlib.aclosing(self._counted(progress)) as results:
            async for result in results:
                table.add(result)

    async def _counted(self, progress: bool) -> AsyncGenerator[R, None]:
        """The results, counted on a progress bar when ``progress``."""
        with progress_bar(progress, total=self._total, desc=self._what, unit="item") as bar:
            async for result in self:
                yield result
                bar.update()

    async def aclose(self) -> None:
        """Stop early: no further input is read and nothing more is sent."""
        self._done = True
        self._ready.clear()
        self._end_span()
