"""Order-preserving, bounded-concurrency mapping of an async call over many inputs.

The input is consumed lazily, one window of ``concurrency * 16`` items at a
time; a window's calls run in a task group that ends before any result is
handed out, so nothing runs while the consumer holds a result (anyio forbids
yielding from inside a task group) and memory stays bounded for any input
size. Within a window a limiter keeps ``concurrency`` calls in flight, so
only the window's tail runs below full concurrency.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Generic, NoReturn, TypeVar

import anyio

__all__ = ["BulkIterator"]

I = TypeVar("I")  # noqa: E741 - input item
R = TypeVar("R")

# Results per window, as a multiple of the concurrency.
WINDOW_FACTOR = 16


class _Pending:
    """Marks a call that was cancelled or never started."""


_PENDING = _Pending()


class BulkIterator(Generic[I, R]):
    """Async iterator of ``func(item)`` for each input item, in input order.

    Args:
        func: The call to make per item.
        items: A sync or async iterable; consumed lazily.
        concurrency: Most calls in flight at once.
        return_exceptions: Yield an item's exception in its place instead of
            raising it.
        cancel_on_error: When raising, cancel calls still in flight (safe for
            reads). When False, calls in flight finish first, and those that
            succeeded after the failing item are on the error's ``completed``
            mapping (index to result), so no outcome is lost.

    Errors raised carry ``index``: the failing item's position in the input.
    """

    def __init__(
        self,
        func: Callable[[I], Awaitable[R]],
        items: Iterable[I] | AsyncIterable[I],
        *,
        concurrency: int,
        return_exceptions: bool,
        cancel_on_error: bool,
    ) -> None:
        self._func = func
        self._sync: Iterable[I] | None = None
        self._async: AsyncIterator[I] | None = None
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

    def __aiter__(self) -> BulkIterator[I, R]:
        return self

    async def _take(self) -> list[I]:
        if self._sync is not None:
            return list(itertools.islice(self._sync, self._window))
        assert self._async is not None  # noqa: S101
        batch: list[I] = []
        async for item in self._async:
            batch.append(item)
            if len(batch) >= self._window:
                break
        return batch

    async def _fill(self) -> None:  # noqa: C901 - one algorithm, clearer in one place
        batch = await self._take()
        if not batch:
            self._done = True
            return
        start = self._next_index
        self._next_index += len(batch)
        results: list[R | BaseException | _Pending] = [_PENDING] * len(batch)
        limiter = anyio.Semaphore(self._concurrency)
        scopes: dict[int, anyio.CancelScope] = {}
        failed_at: int | None = None

        async def run(position: int, item: I, scope: anyio.CancelScope) -> None:
            nonlocal failed_at
            try:
                with scope:
                    results[position] = await self._func(item)
            except Exception as exc:  # noqa: BLE001 - every failure belongs to its item
                results[position] = exc
                if not self._return_exceptions:
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

        async with anyio.create_task_group() as group:
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

    async def __anext__(self) -> R | BaseException:
        while not self._ready:
            if self._done:
                raise StopAsyncIteration
            await self._fill()
        index, result = self._ready.popleft()
        if isinstance(result, BaseException):
            if self._return_exceptions:
                return result
            self._raise(index, result)
        if isinstance(result, _Pending):
            # Cancelled because a later item failed first: raise that error.
            for later, outcome in self._ready:
                if isinstance(outcome, BaseException):
                    self._raise(later, outcome)
            raise RuntimeError("a bulk call was cancelled without an error")  # noqa: TRY004  # pragma: no cover
        return result

    def _raise(self, index: int, error: BaseException) -> NoReturn:
        completed = {
            later: outcome
            for later, outcome in self._ready
            if later > index and not isinstance(outcome, (BaseException, _Pending))
        }
        self._ready.clear()
        self._done = True
        error.index = index  # type: ignore[attr-defined]
        error.completed = completed  # type: ignore[attr-defined]
        raise error

    async def collect(self) -> list[R | BaseException]:
        """Run the whole input and return the results in input order."""
        return [result async for result in self]

    async def aclose(self) -> None:
        """Stop early: no further input is read and nothing more is sent."""
        self._done = True
        self._ready.clear()
