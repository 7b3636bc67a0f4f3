"""Work that runs between a consumer's ``__anext__`` calls, in a task of its own.

A sliding window (bulk calls, prefetched pages) keeps requests in flight
while the consumer's loop body runs. A task group cannot do that from inside
``__anext__``: it must end before the call returns. So such work runs in a
task of its own (an asyncio task, or a trio system task), started in a copy
of the consumer's context (its trace, its ``responses()`` block), inside a
cancel scope the consumer's side can cancel at any time: on ``aclose()``, or
when the iterator is dropped (``break``).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
from typing import TYPE_CHECKING, Any

import anyio
import sniffio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Background", "loop_caller", "spawn"]

# Tasks started on asyncio, kept until they end (the loop holds tasks weakly).
_TASKS: set[Any] = set()


def spawn(work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work`` in a task of its own, in a copy of the caller's context.

    ``work`` must not raise: nothing would see it (trio would end the run).
    """
    if sniffio.current_async_library() == "trio":
        import trio  # noqa: PLC0415 - only where trio runs

        trio.lowlevel.spawn_system_task(work, context=contextvars.copy_context())
        return
    asyncio = sys.modules["asyncio"]  # running: loaded
    task = asyncio.get_running_loop().create_task(work())
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def loop_caller() -> Callable[[Callable[[], None]], None]:
    """A function that runs a callback on the running loop's thread.

    At once when called from that thread, else soon on it: a finaliser may
    run in any thread (the garbage collector runs where memory is
    allocated), and cancel scopes and streams are not thread-safe.
    """
    home = threading.get_ident()
    later: Callable[[Callable[[], None]], object]
    if sniffio.current_async_library() == "trio":
        import trio  # noqa: PLC0415 - only where trio runs

        later = trio.lowlevel.current_trio_token().run_sync_soon
    else:
        later = sys.modules["asyncio"].get_running_loop().call_soon_threadsafe

    def call(callback: Callable[[], None]) -> None:
        if threading.get_ident() == home:
            callback()
            return
        # The loop may be closed, or the trio run over: nothing left to stop.
        with contextlib.suppress(Exception):
            later(callback)

    return call


class Background:
    """``work`` running in a task of its own until it ends or ``stop()`` is called.

    An exception ``work`` raises is kept in ``error`` for the consumer to
    raise in its own task.
    """

    def __init__(self, work: Callable[[], Awaitable[None]]) -> None:
        self._work = work
        self._scope = anyio.CancelScope()
        self.finished = anyio.Event()
        self.error: Exception | None = None
        self._call = loop_caller()
        spawn(self._run)

    async def _run(self) -> None:
        try:
            with self._scope:
                await self._work()
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            self.error = exc
        finally:
            self.finished.set()

    def stop(self, then: Callable[[], None] | None = None) -> None:
        """Cancel the work, then run ``then``: from any thread, never raising (finalisers)."""

        def cancel() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                self._scope.cancel()
                if then is not None:
                    then()

        self._call(cancel)

    async def aclose(self) -> None:
        """Cancel the work and wait for it to end."""
        self.stop()
        await self.finished.wait()
