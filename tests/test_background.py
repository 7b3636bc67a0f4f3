"""Work in a task of the SDK's own, stopped from wherever a finaliser runs."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
import pytest

from bsg_async._background import Background, loop_caller

pytestmark = pytest.mark.anyio


async def test_a_callback_from_another_thread_runs_on_the_loops_thread() -> None:
    """The garbage collector may finalise an iterator in any thread: its stop runs at home."""
    call = loop_caller()
    ran_in: list[int] = []
    done = anyio.Event()

    def callback() -> None:
        ran_in.append(threading.get_ident())
        if len(ran_in) == 2:
            done.set()

    call(callback)  # from the loop's own thread: at once
    assert [threading.get_ident()] == ran_in
    await anyio.to_thread.run_sync(call, callback)
    with anyio.fail_after(5):
        await done.wait()
    assert [threading.get_ident()] * 2 == ran_in


async def test_background_work_is_stopped_and_its_error_kept() -> None:
    """stop() from another thread cancels the work; an error waits for the consumer."""
    started = anyio.Event()

    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    async def failing() -> None:
        raise LookupError("kept")

    with anyio.fail_after(5):
        work = Background(forever)
        await started.wait()
        closed: list[str] = []
        await anyio.to_thread.run_sync(lambda: work.stop(then=lambda: closed.append("then")))
        await work.finished.wait()
        assert (None, ["then"]) == (work.error, closed)
        broken = Background(failing)
        await broken.finished.wait()
    assert isinstance(broken.error, LookupError)
