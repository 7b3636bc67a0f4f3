"""Pytest fixtures for testing code that uses bsg_async.

Enable them with ``pytest_plugins = ["bsg_async.testing.fixtures"]`` in your
``conftest.py``. Async fixtures run under anyio's pytest plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bsg_async.testing._emulator import FakeBSG

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import bsg_async
    from bsg_async.testing._server import EmulatorServer

__all__ = ["bsg_client", "fake_bsg", "fake_bsg_server"]


@pytest.fixture
def fake_bsg() -> FakeBSG:
    """A fresh, empty emulator (seed it with ``fake_bsg.seed_contacts(n)``)."""
    return FakeBSG()


@pytest.fixture
async def bsg_client(fake_bsg: FakeBSG) -> AsyncIterator[bsg_async.Client]:
    """A Client talking to ``fake_bsg`` in process, with instant retries."""
    async with fake_bsg.client(retry_backoff=0.0) as client:
        yield client


@pytest.fixture
def fake_bsg_server(fake_bsg: FakeBSG) -> Iterator[EmulatorServer]:
    """``fake_bsg`` served on 127.0.0.1 at a free port; ``.base_url`` to connect."""
    with fake_bsg.serve() as server:
        yield server
