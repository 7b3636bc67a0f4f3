"""The FastAPI example (examples/fastapi_app.py) over real sockets, under load.

The app runs in uvicorn on a loopback port with its lifespan (one shared
Client), in front of the served emulator. The test side runs on asyncio and
trio and sends ~1,000 requests at once.
"""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from typing_extensions import Self

from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG

pytestmark = pytest.mark.anyio

CONTACTS = 600
BURST = 1000


class AppServer:
    """uvicorn serving an ASGI app (lifespan on) on 127.0.0.1, in a thread."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", backlog=2048, timeout_keep_alive=120
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self._thread.is_alive(), "the app server stopped"
            assert time.monotonic() < deadline, "the app server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=CONTACTS, seed=9).serve() as running:
        yield running


async def test_one_shared_client_serves_a_burst(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 concurrent lookups, errors mapped, a CSV export; no connection left behind."""
    monkeypatch.setenv("BSG_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("BSG_BASE_URL", emulator.base_url)
    from examples.fastapi_app import app  # noqa: PLC0415 - reads the environment at startup

    ids = sorted(emulator.fake.contacts)
    wanted = [ids[n % len(ids)] for n in range(BURST - 100)] + [999_999_999] * 100
    statuses: dict[int, int] = {}
    bodies: dict[int, dict[str, object]] = {}
    with AppServer(app) as served:
        base = f"http://127.0.0.1:{served.port}"
        limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

            async def lookup(n: int, contact_id: int) -> None:
                answer = await http.get(f"/contacts/{contact_id}")
                statuses[n] = answer.status_code
                bodies[n] = answer.json()

            with anyio.fail_after(120):
                async with anyio.create_task_group() as group:
                    for n, contact_id in enumerate(wanted):
                        group.start_soon(lookup, n, contact_id)
            # The shared client kept to its cap of 32 connections.
            assert emulator.open_connections <= 32
            assert [200] * (BURST - 100) + [404] * 100 == [statuses[n] for n in range(BURST)]
            assert [wanted[n] for n in range(BURST - 100)] == [
                bodies[n]["id"] for n in range(BURST - 100)
            ]
            assert {"detail": "Invalid contact id"} == bodies[BURST - 1]
            # Bad input never reaches BSG: 422 from the SDK's own check.
            invalid = await http.get("/contacts/0")
            assert 422 == invalid.status_code
            assert "contact_id" in invalid.json()["detail"]
            export = await http.get("/contacts.csv")
            rows = list(csv.reader(io.StringIO(export.text)))
            assert ["id", "phone", "created_at", "lists"] == rows[0]
            assert ids == sorted(int(row[0]) for row in rows[1:])
    # The lifespan closed the shared client: the emulator holds no connection of it.
    # The emulator's thread notices the closes on its own schedule: wait for it, bounded.
    with anyio.fail_after(10):
        while emulator.open_connections:  # noqa: ASYNC110 - state of another thread
            await anyio.sleep(0.05)
    assert 0 == emulator.open_connections
    assert [] == emulator.fake.unexpected
    assert 1 == emulator.fake.stats["logins"]
