"""Using the client from synchronous code: one event loop, or a clear error."""

from __future__ import annotations

import asyncio
import functools
import gc
import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import trio
from anyio.from_thread import start_blocking_portal

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG

T = TypeVar("T")


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=20).serve() as server:
        yield server


def test_a_blocking_portal_serves_a_synchronous_script(served: EmulatorServer) -> None:
    """The README's pattern: one loop in a thread, every call through it, then aclose.

    portal.call passes positional arguments only: keywords go through
    functools.partial, as the README shows.
    """
    first = min(served.fake.contacts)
    client = bsg_async.Client(DEFAULT_KEY, base_url=served.base_url)
    with start_blocking_portal() as portal:
        contact = portal.call(client.contacts.get, first)
        everyone = portal.call(client.contacts.list().collect)
        again = portal.call(client.contacts.get, first)
        weekly = portal.call(functools.partial(client.lists.create, name="Weekly"))
        portal.call(client.aclose)
    assert (first, first) == (contact.id, again.id)
    assert "Weekly" == weekly.name
    assert sorted(served.fake.contacts) == sorted(c.id for c in everyone)
    assert client.is_closed


def _run(runner: str, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    if runner == "asyncio":
        return asyncio.run(fn())
    return trio.run(fn)


@pytest.mark.parametrize("runner", ["asyncio", "trio"])
def test_a_second_event_loop_gets_a_clear_error(runner: str, served: EmulatorServer) -> None:
    """A module-level client used from two asyncio.run (or trio.run) calls: EventLoopError."""
    first = min(served.fake.contacts)
    box = {"client": bsg_async.Client(DEFAULT_KEY, base_url=served.base_url)}

    async def get() -> int:
        return (await box["client"].contacts.get(first)).id

    async def close() -> None:
        await box["client"].aclose()

    assert first == _run(runner, get)
    with pytest.raises(bsg_async.EventLoopError, match=r"two asyncio\.run\(\) calls") as info:
        _run(runner, get)
    assert isinstance(info.value, RuntimeError)
    assert "not sent" in str(info.value)
    _run(runner, close)
    assert 2 == served.fake.stats["route:login"] + served.fake.stats["route:contact_get"]
    # The first loop ended with the client open, as in the pattern this guards
    # against; Python warns about the sockets it left, here and not later.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        box.clear()
        del info  # its traceback holds the client too
        gc.collect()
