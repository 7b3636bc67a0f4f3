"""The FastAPI example (examples/fastapi_app.py) over real sockets, under load.

The app runs in uvicorn on a loopback port with its lifespan (one shared
Client), in its own process, in front of the served emulator. The test side runs on asyncio and
trio and sends ~1,000 requests at once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from typing_extensions import Self

from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[1]
CONTACTS = 600
BURST = 1000


# Run in a child process: binds a free loopback port, says which, then serves
# the example app with its lifespan until interrupted.
_LAUNCH = """
import socket, sys, uvicorn
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
config = uvicorn.Config(
    "examples.fastapi_app:app", log_level="warning", lifespan="on", backlog=2048,
    timeout_keep_alive=120,
)
uvicorn.Server(config).run(sockets=[sock])
"""


class AppProcess:
    """The example app in uvicorn, in its own process (its own GIL), on 127.0.0.1.

    Stopped with SIGINT, as Ctrl-C stops it: uvicorn then runs the lifespan's
    shutdown, which closes the shared client.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH],
            cwd=ROOT,
            env=self._env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert self._process.stdout is not None
            self.port = int(self._process.stdout.readline())
            deadline = time.monotonic() + 20
            while True:  # up once it answers (the lifespan has made the client by then)
                try:
                    httpx.get(f"http://127.0.0.1:{self.port}/docs", timeout=1)
                    break
                except httpx.TransportError:
                    assert self._process.poll() is None, "the app server stopped"
                    assert time.monotonic() < deadline, "the app server did not start"
                    time.sleep(0.05)
        except BaseException:
            self._process.kill()
            self._stop()
            raise
        return self

    def _stop(self) -> int:
        assert self._process is not None
        try:
            return self._process.wait(timeout=30)
        finally:
            if self._process.stdout is not None:
                self._process.stdout.close()

    def __exit__(self, *_: object) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGINT)
        # uvicorn shuts down (lifespan included), then exits by the same signal.
        assert self._stop() in {0, -signal.SIGINT}


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=CONTACTS, seed=9).serve() as running:
        yield running


async def test_one_shared_client_serves_a_burst(
    emulator: EmulatorServer,
) -> None:
    """1,000 concurrent lookups, errors mapped, a CSV export; no connection left behind."""
    env = {**os.environ, "BSG_API_KEY": DEFAULT_KEY, "BSG_BASE_URL": emulator.base_url}
    ids = sorted(emulator.fake.contacts)
    wanted = [ids[n % len(ids)] for n in range(BURST - 100)] + [999_999_999] * 100
    statuses: dict[int, int] = {}
    bodies: dict[int, dict[str, object]] = {}
    with AppProcess(env) as served:
        base = f"http://127.0.0.1:{served.port}"
        # 1,000 connections at once, from 20 clients of 50: one httpx pool with
        # 1,000 waiters spends its time rescanning them (encode/httpx#3215).
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=base, limits=limits, timeout=60)
                )
                for _ in range(BURST // 50)
            ]
            http = clients[0]

            async def lookup(n: int, contact_id: int) -> None:
                answer = await clients[n % len(clients)].get(f"/contacts/{contact_id}")
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
            # The SDK's models as FastAPI response models: serialised as to_jsonable
            # does, and described in the OpenAPI schema.
            model = await http.get(f"/models/contacts/{ids[0]}")
            assert (200, bodies[0]) == (model.status_code, model.json())
            page = (await http.get("/models/first-page")).json()
            assert (ids[:15], 0, CONTACTS) == (
                [row["id"] for row in page["items"]],
                page["offset"],
                page["total"],
            )
            assert ids[:3] == [row["id"] for row in (await http.get("/models/contacts")).json()]
            schemas = (await http.get("/openapi.json")).json()["components"]["schemas"]
            assert {"id", "phone", "fields", "created_at", "groups"} <= set(
                schemas["Contact"]["properties"]
            )
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
