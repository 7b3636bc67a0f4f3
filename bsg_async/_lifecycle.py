"""Where a client runs and whether it is open: what every view of one client shares.

A client binds to the event loop (asyncio) or run (trio) of its first
request, which owns its connections. Closing cancels the calls in flight;
a client dropped unclosed has its connections closed for it, on that loop.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import sniffio

if TYPE_CHECKING:
    import asyncio

    import anyio
    import httpx

__all__ = ["OTHER_LOOP", "Lifecycle", "close_dropped", "current_loop"]


# Closing tasks started for dropped clients, kept until they end.
_CLOSING: set[asyncio.Task[None]] = set()


def close_dropped(loop: object, http: httpx.AsyncClient) -> None:
    """Close a dropped client's connections on the loop (or trio run) that owns them."""
    # asyncio is imported only where it runs (it costs ~10 ms at import).
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and isinstance(loop, asyncio.AbstractEventLoop):
        if loop.is_closed():
            return

        def start() -> None:
            task = loop.create_task(http.aclose())
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

        loop.call_soon_threadsafe(start)
        return
    import trio  # noqa: PLC0415 - only a trio run binds a TrioToken

    if isinstance(loop, trio.lowlevel.TrioToken):
        try:
            loop.run_sync_soon(lambda: trio.lowlevel.spawn_system_task(http.aclose))
        except trio.RunFinishedError:
            return


def current_loop() -> object:
    """The running event loop (asyncio) or run (trio)."""
    if sniffio.current_async_library() == "trio":
        import trio  # noqa: PLC0415 - only where trio runs

        return trio.lowlevel.current_trio_token()
    import asyncio  # noqa: PLC0415 - already loaded: an asyncio loop is running

    return asyncio.get_running_loop()


class Lifecycle:
    """What every view of one client shares about being open, and where."""

    def __init__(self, *, needs_asyncio: bool = False) -> None:
        self.in_flight: set[anyio.CancelScope] = set()
        self.closing = False
        self.loop: object | None = None
        # aiohttp and redis-py run on asyncio only: checked on the first request.
        self.needs_asyncio = needs_asyncio

    def check_loop(self) -> bool:
        """Bind to the running loop on first use; False when it is another one."""
        bound = self.loop
        if bound is not None:
            # On asyncio, one C call answers without asking sniffio.
            running = sys.modules.get("asyncio")
            if running is not None and running._get_running_loop() is bound:  # noqa: SLF001 - in asyncio.events.__all__
                return True
        loop = current_loop()
        if self.loop is None:
            self.loop = loop
        return self.loop is loop


OTHER_LOOP = (
    "this Client first ran in another event loop, which owns its connections"
    " (two asyncio.run() calls with one module-level client?). Create the client"
    " inside the function that asyncio.run() runs, with `async with Client() as"
    " client:`; from synchronous code, keep one loop for all calls, e.g. with"
    " anyio.from_thread.start_blocking_portal() (README: Synchronous scripts)"
)
