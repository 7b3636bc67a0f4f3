"""Order-preserving, bounded-concurrency mapping of an async call over many inputs.

A bulk call slides: ``concurrency`` calls are in flight, and as soon as one
ends the next input item starts, while the consumer still reads earlier
results. The calls run in a task of their own (a "producer", started at the
first result asked for) because a task group cannot stay open across the
consumer's ``async for`` steps. Memory stays bounded: the producer starts
an item only while fewer than ``concurrency * 16`` results are started and
not yet handed out. A call waiting out a retry's backoff gives its place to
the next item, so one slow retry does not hold up the rest.

The producer stops starting items when the consumer closes the iterator,
drops it, or a failure ends the call; calls already in flight then finish
(writes) or are cancelled (reads), never sent again.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sized,
)
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast

import anyio

from bsg_async._background import loop_caller, spawn
from bsg_async._call import BACKOFF
from bsg_async._errors import BSGError, BulkError, ClientClosedError
from bsg_async._frames import Tabular
from bsg_async._pagination import _NOT_AWAITABLE, _NOT_ITERABLE
from bsg_async._progress import progress_bar

if TYPE_CHECKING:
    from bsg_async._frames import Table
    from bsg_async._telemetry import Telemetry

__all__ = ["BulkIterator"]

R = TypeVar("R")

# Results started and not yet handed out, as a multiple of the concurrency.
WINDOW_FACTOR = 16

# ``_Run.wanted`` of a consumer that takes whichever result ends first.
_ANY = -2


class _Pending:
    """Marks a call that was cancelled or never started."""


_PENDING = _Pending()

# What ``_Source.read`` returns once the input is exhausted.
_END = object()


class _Slot:
    """One item's place among the ``concurrency`` in flight.

    While its call waits out a retry's backoff the item gives the place back
    (the next item starts in it) and waits for one again afterwards.
    """

    __slots__ = ("_limiter", "held")

    def __init__(self, limiter: anyio.Semaphore) -> None:
        self._limiter = limiter
        self.held = True

    async def idle(self, sleep: Callable[[float], Awaitable[object]], delay: float) -> None:
        self._limiter.release()
        self.held = False
        await sleep(delay)
        await self._limiter.acquire()
        self.held = True


class _Source:
    """The input, read one item at a time, each through ``prepare``."""

    __slots__ = ("_async", "_prepare", "_sync")

    def __init__(
        self, items: Iterable[Any] | AsyncIterable[Any], prepare: Callable[[Any], Any] | None
    ) -> None:
        self._sync: Iterator[Any] | None = None
        self._async: AsyncIterator[Any] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        else:
            self._sync = iter(items)
        self._prepare = prepare

    async def read(self) -> Any:  # noqa: ANN401 - an input item, of any type
        """The next input item through ``prepare``, or ``_END`` at the end."""
        if self._sync is not None:
            item = next(self._sync, _END)
        else:
            assert self._async is not None  # noqa: S101
            item = await anext(self._async, _END)
        if item is _END or self._prepare is None:
            return item
        return self._prepare(item)


class _Run:
    """A bulk call's producer, and what it shares with the consumer.

    It holds no reference to the ``BulkIterator``, so that a consumer that
    drops the iterator (``break``) has it collected, which stops the run.
    """

    def __init__(
        self,
        func: Callable[[Any], Awaitable[Any]],
        source: _Source,
        *,
        concurrency: int,
        window: int,
        return_exceptions: bool,
        cancel_on_error: bool,
        what: str,
    ) -> None:
        self._func = func
        self._source = source
        self._return_exceptions = return_exceptions
        self.cancel_reads = cancel_on_error
        self._what = what
        self.outcomes: dict[int, Any] = {}
        self.limiter = anyio.Semaphore(concurrency, fast_acquire=True)
        self.room = anyio.Semaphore(window, fast_acquire=True)
        self.wanted = -1  # the index the consumer waits for, or _ANY
        #: Indexes in the order their calls ended (``as_completed()`` only).
        self.arrived: deque[int] | None = None
        self.wake = anyio.Event()
        self.finished = anyio.Event()
        self.started = 0  # items read from the input and started
        #: Why the producer stopped early (the input raised, the client closed).
        self.stopped_by: BaseException | None = None
        self.feeding = anyio.CancelScope()
        self.scopes: dict[int, anyio.CancelScope] = {}
        self._call = loop_caller()

    def settle(self, position: int, outcome: object) -> None:
        self.outcomes[position] = outcome
        if self.arrived is not None:
            self.arrived.append(position)
        if self.wanted in (position, _ANY):
            self.wake.set()

    def ready(self, wanted: int) -> int | None:
        """The index to hand out next: ``wanted`` once it ended (any, for ``_ANY``)."""
        if wanted == _ANY:
            return self.arrived[0] if self.arrived else None
        return wanted if wanted in self.outcomes else None

    def take(self, index: int) -> object:
        """Hand out the outcome at ``index``: one more item may start."""
        if self.arrived:
            self.arrived.popleft()  # as completed, ``index`` is the oldest
        self.room.release()
        return self.outcomes.pop(index)

    def stop(self) -> None:
        """Start nothing more; cancel the reads in flight (writes finish).

        Callable from any thread (a finaliser), never raising.
        """
        self._call(self._stop_here)

    def _stop_here(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already gone
            self.feeding.cancel()
            if self.cancel_reads:
                for scope in list(self.scopes.values()):
                    scope.cancel()

    def end(self) -> None:
        self.finished.set()
        self.wake.set()

    async def produce(self, tracing: contextlib.AbstractContextManager[object]) -> None:
        """Start the items in input order, ``concurrency`` in flight, until the input ends."""
        try:
            with tracing:
                async with anyio.create_task_group() as group:
                    with self.feeding:
                        await self._feed(group)
        except Exception as exc:  # noqa: BLE001 - a bug: the consumer raises it
            self.stopped_by = self.stopped_by or exc
        finally:
            self.end()

    async def _feed(self, group: anyio.abc.TaskGroup) -> None:
        # Every way to stop (aclose, a dropped iterator, a failure, a closed
        # client) cancels ``feeding``; its flag is checked after each wait too,
        # since a free slot is taken without a checkpoint, and trio may hand
        # one over before it delivers the cancellation.
        while not self.feeding.cancel_called:
            await self.room.acquire()
            try:
                item = await self._source.read()
            except Exception as exc:  # noqa: BLE001 - the input's own error, raised in its place
                self.stopped_by = exc
                return
            if item is _END:
                return
            await self.limiter.acquire()
            if self.feeding.cancel_called:
                return
            scope = anyio.CancelScope()
            self.scopes[self.started] = scope
            group.start_soon(self._one, self.started, item, scope)
            self.started += 1

    async def _one(self, position: int, item: object, scope: anyio.CancelScope) -> None:
        slot = _Slot(self.limiter)
        BACKOFF.set(slot.idle)
        outcome: object = _PENDING
        try:
            with scope:
                outcome = await self._func(item)
        except Exception as exc:  # noqa: BLE001 - every failure belongs to its item
            outcome = exc
            self._failed(position, exc)
        finally:
            self.scopes.pop(position, None)
            if slot.held:
                self.limiter.release()
            self.settle(position, outcome)

    def _failed(self, position: int, exc: Exception) -> None:
        if isinstance(exc, ClientClosedError) and self.stopped_by is None:
            # Nothing more can be sent: the rest of the input is not tried.
            self.stopped_by = ClientClosedError(
                f"{self._what}: the client was closed; the items from {self.started}"
                " of the input on were not sent"
            )
            self.feeding.cancel()
        # Only the SDK's own errors are handed out in place: anything else is
        # a bug, and stops the call as without the option.
        if self._return_exceptions and isinstance(exc, BSGError):
            return
        self.feeding.cancel()
        if self.cancel_reads:
            # Items before the failure still finish and are yielded; only
            # later reads are cancelled (writes in flight finish).
            for later, later_scope in list(self.scopes.items()):
                if later > position:
                    later_scope.cancel()


class BulkIterator(Tabular, Generic[R]):
    """The results of a bulk call (``get_many``, ``create_many``), in input order.

    ``async for result in client.contacts.get_many(ids)`` runs the calls,
    ``concurrency`` at a time, and yields each result in the input's order;
    ``await ....collect()`` returns them as a list and ``await ....to_pandas()``
    as a DataFrame; ``.as_completed()`` yields ``(index, result)`` pairs as
    the calls end instead. Nothing is sent before iteration starts. The calls
    slide: as one ends the next item starts, while the loop still reads
    earlier results, up to ``concurrency * 16`` ahead of it. ``aclose()`` (or
    leaving the loop) stops it: no further input is read and nothing more is
    sent; reads in flight are cancelled, creates in flight finish.

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
        # The bulk call's span (a parent of its items' spans), made when the
        # run starts and ended when the results end or the iterator closes.
        self._telemetry = telemetry if telemetry is not None and telemetry.active() else None
        self._operation = operation or what
        self._span: Any = None
        self.item_type = item_type
        self._resolve_names = field_names
        self._total = len(items) if isinstance(items, Sized) else None
        self._source = _Source(items, prepare)
        self._concurrency = concurrency
        self._window = concurrency * WINDOW_FACTOR
        self._return_exceptions = return_exceptions
        self._cancel_on_error = cancel_on_error
        self._run: _Run | None = None
        self._next_index = 0  # results handed out
        self._done = False

    def __repr__(self) -> str:
        size = "" if self._total is None else f" of {self._total}"
        read = 0 if self._run is None else self._run.started
        return f"<BulkIterator: {self._what}, {read} read{size}>"

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

    def _start(self) -> _Run:
        """Start the producer, in a copy of the consumer's context (its trace, its hooks)."""
        run = _Run(
            self._func,
            self._source,
            concurrency=self._concurrency,
            window=self._window,
            return_exceptions=self._return_exceptions,
            cancel_on_error=self._cancel_on_error,
            what=self._what,
        )
        tracing: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if self._telemetry is not None:
            if self._span is None:
                self._span = self._telemetry.start_bulk(self._operation)
            tracing = self._telemetry.within(self._span)
        spawn(lambda: run.produce(tracing))
        return run

    def _end_span(self, error: BaseException | None = None) -> None:
        span, self._span = self._span, None
        if span is not None and self._telemetry is not None:
            self._telemetry.end_bulk(span, self._next_index, error)

    def as_completed(self) -> AsyncIterator[tuple[int, R]]:
        """The results as their calls end, each with its index in the input.

        ::

            async for index, contact in client.contacts.get_many(ids).as_completed():
                rows[index] = contact

        For jobs that need every result but not their order (exports): a
        slow item (a run of retries) holds nothing back, where in input order
        the results behind it wait for it. Failures work as with ``async
        for``: in place with ``return_exceptions``, else ``BulkError`` at the
        first to end (``completed`` then holds the results not yet handed
        out). Use one way per iterator: ``async for`` or this.
        """
        if self._run is not None and self._run.arrived is None:
            raise TypeError("this bulk call is already read in input order (async for)")
        return _Completed(self)

    async def _next_arrived(self) -> tuple[int, R]:
        """The next result to end, with its index (``as_completed()``)."""
        return await self._take(self._begin(unordered=True), _ANY)

    async def _take(self, run: _Run, wanted: int) -> tuple[int, R]:
        """The result at index ``wanted`` (or the next to end, ``_ANY``), with its index."""
        while (index := run.ready(wanted)) is None:
            if self._done:
                raise StopAsyncIteration
            if run.finished.is_set():
                self._finish(run)
            run.wanted, run.wake = wanted, anyio.Event()
            await run.wake.wait()
        result = run.take(index)
        self._next_index += 1
        return index, await self._hand_out(run, index, result)

    def _begin(self, *, unordered: bool = False) -> _Run:
        """The run, started on the first result asked for."""
        run = self._run
        if run is not None:
            return run
        if self._done:
            raise StopAsyncIteration
        run = self._run = self._start()
        if unordered:
            run.arrived = deque()
        return run

    async def __anext__(self) -> R:
        run = self._begin()
        if run.arrived is not None:
            raise TypeError("this bulk call is already read with as_completed()")
        return (await self._take(run, self._next_index))[1]

    async def _hand_out(self, run: _Run, index: int, result: object) -> R:
        """``result`` as the next item, or the error it stands for."""
        if isinstance(result, BaseException):
            if self._return_exceptions and isinstance(result, BSGError):
                # The caller asked for the SDK's errors in place: R includes them.
                return cast("R", result)
            await self._raise(run, index, result)
        if isinstance(result, _Pending):
            # Cancelled because an earlier item failed: raise that error.
            await run.finished.wait()
            for earlier, outcome in sorted(run.outcomes.items()):
                if isinstance(outcome, BaseException):
                    await self._raise(run, earlier, outcome)
            raise RuntimeError("a bulk call was cancelled without an error")  # noqa: TRY004  # pragma: no cover
        return cast("R", result)

    def _finish(self, run: _Run) -> NoReturn:
        """The producer ended and every result was handed out: end, or say why it stopped."""
        self._done = True
        error = run.stopped_by
        self._end_span(error)
        if error is None:
            raise StopAsyncIteration
        if isinstance(error, Exception):
            raise error
        raise RuntimeError(f"{self._what} stopped: {error!r}")  # pragma: no cover

    async def _raise(self, run: _Run, index: int, error: BaseException) -> NoReturn:
        # Writes in flight when the item failed finish first: their outcome is known.
        await run.finished.wait()
        # In input order, the results after the failure; as completed, all
        # those not handed out yet.
        after = -1 if run.arrived is not None else index
        completed: dict[int, R] = {
            later: outcome
            for later, outcome in sorted(run.outcomes.items())
            if later > after and not isinstance(outcome, (BaseException, _Pending))
        }
        run.outcomes.clear()
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
        """Stop early: no further input is read and nothing more is sent.

        Reads in flight are cancelled; writes in flight (``create_many``)
        finish first, so none is left half-known. Returns once they ended.
        """
        self._done = True
        run = self._run
        if run is not None:
            if not run.finished.is_set():
                run.stop()
                await run.finished.wait()
            run.outcomes.clear()
        self._end_span()

    def __del__(self) -> None:
        # Dropped unclosed (``break`` out of ``async for``): start nothing more.
        run = self._run
        if run is not None and not run.finished.is_set():
            run.stop()


class _Completed(Generic[R]):
    """``BulkIterator.as_completed()``: (index, result) pairs as calls end."""

    __slots__ = ("_bulk",)

    def __init__(self, bulk: BulkIterator[R]) -> None:
        self._bulk = bulk

    def __aiter__(self) -> _Completed[R]:
        return self

    async def __anext__(self) -> tuple[int, R]:
        return await self._bulk._next_arrived()  # noqa: SLF001 - its own helper

    async def aclose(self) -> None:
        """As ``BulkIterator.aclose()``."""
        await self._bulk.aclose()
