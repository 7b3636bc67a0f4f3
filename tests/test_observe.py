"""What users see of each call: hooks per attempt, raw answers, BSG_LOG, no OpenTelemetry.

Over real loopback sockets against the served emulator, on asyncio and trio.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG
from tests.helpers import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=5).serve() as running:
        yield running


async def test_hooks_see_every_attempt_in_order_replays_included(served: EmulatorServer) -> None:
    """A 503 retried, then a 401 replayed: the hooks see all three attempts, never the login."""
    fake = served.fake
    seen: list[str] = []

    def on_request(request: httpx.Request) -> None:
        seen.append(f"-> {request.method} {request.url.path}")

    async def on_response(response: httpx.Response) -> None:
        # The answer knows its request, as with httpx's own hooks.
        seen.append(f"<- {response.status_code} {response.request.url.path == path}")

    first = min(fake.contacts)
    path = f"/api/contacts/{first}"
    async with bsg_async.Client(
        DEFAULT_KEY,
        base_url=served.base_url,
        trust_env=False,
        clock=FakeClock(),
        event_hooks={"request": [on_request], "response": [on_response]},
    ) as client:
        await client.contacts.get(first)
        fake.answer_next(503, b'{"message": "Service Unavailable"}')
        fake.advance(fake.token_ttl + 1)
        await client.contacts.get(first)
    assert [
        f"-> GET {path}",
        "<- 200 True",
        f"-> GET {path}",
        "<- 503 True",
        f"-> GET {path}",
        "<- 401 True",
        f"-> GET {path}",
        "<- 200 True",
    ] == seen
    assert 2 == fake.stats["logins"]  # the logins ran, unseen by the hooks


def test_hooks_are_checked_before_anything_is_sent() -> None:
    """A misspelt hook name, a hook that is not callable, a bare function: clear errors."""
    cases: list[tuple[Any, str]] = [
        ({"requests": [print]}, "'requests'"),
        ({"request": [42]}, "not callable"),
        ({"response": print}, "must be a list of callables"),
        ([print], "must be a mapping"),
    ]
    for hooks, message in cases:
        with pytest.raises(bsg_async.InvalidRequestError, match=message):
            bsg_async.Client(DEFAULT_KEY, base_url="http://127.0.0.1:9/api", event_hooks=hooks)


async def test_responses_keeps_each_calls_answer_beside_its_result(served: EmulatorServer) -> None:
    """Inside client.responses(): status, headers, retries, attempts of each call, errors too."""
    fake = served.fake
    first = min(fake.contacts)
    async with bsg_async.Client(
        DEFAULT_KEY, base_url=served.base_url, trust_env=False, clock=FakeClock()
    ) as client:
        await client.contacts.get(first)
        with client.responses() as answers:
            fake.answer_next(503, b'{"message": "Service Unavailable"}')
            contact = await client.contacts.get(first)
            with pytest.raises(bsg_async.NotFoundError):
                await client.contacts.get(max(fake.contacts) + 1)
        await client.contacts.get(first)  # outside the block: not kept
    assert first == contact.id
    assert [("contacts.get", 200, 1, 2), ("contacts.get", 422, 0, 1)] == [
        (answer.operation, answer.status_code, answer.retries_taken, answer.attempts)
        for answer in answers
    ]
    assert "application/json" in answers[0].headers["content-type"]
    assert first == answers[0].json()["data"]["id"]
    assert answers[0].elapsed > 0


def _run_logged(
    level: str, server: EmulatorServer, key: str, phone: int
) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import anyio, bsg_async

        async def main():
            async with bsg_async.Client({key!r}, base_url={server.base_url!r}, trust_env=False,
                                        http_backend="httpx") as client:
                await client.contacts.get({min(server.fake.contacts)})
                await client.contacts.create(phone={phone})

        anyio.run(main)
        """
    )
    env = {**os.environ, "BSG_LOG": level}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )


def test_bsg_log_switches_logging_on_and_never_shows_a_secret(served: EmulatorServer) -> None:
    """BSG_LOG=info: a line per call; =debug: bodies too, httpcore's lines; no key, no token."""
    fake = served.fake
    key = "live_Secret_Key_9f8e7d"
    fake.api_keys.add(key)
    first = min(fake.contacts)
    info = _run_logged("info", served, key, 61401629754)
    assert "" == info.stdout
    lines = info.stderr.splitlines()
    assert 2 == len(lines), lines
    assert f"INFO bsg_async: GET /api/contacts/{first} -> 200 in" in lines[0]
    assert "INFO bsg_async: POST /api/contacts -> 201 in" in lines[1]
    debug = _run_logged("debug", served, key, 61401629755)
    assert f"DEBUG bsg_async: request: GET http://127.0.0.1:{served.port}/api/contacts/{first}" in (
        debug.stderr
    )
    assert '"phone":61401629755' in debug.stderr.replace(
        " ", ""
    )  # a request body, cut to 500 characters
    assert "DEBUG httpcore" in debug.stderr
    for output in (info.stderr, debug.stderr):
        assert key not in output
        assert re.search(r"Bearer (?!<redacted>)", output) is None
        assert re.search(r"eyJ[\w-]+\.eyJ", output) is None  # no JWT anywhere


def test_calls_work_without_opentelemetry_and_import_none_of_it(served: EmulatorServer) -> None:
    """With opentelemetry unimportable, calls work and nothing of it is loaded."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["opentelemetry"] = None  # as if it were not installed
        import anyio, bsg_async

        async def main():
            async with bsg_async.Client({DEFAULT_KEY!r}, base_url={served.base_url!r},
                                        trust_env=False) as client:
                await client.contacts.get({min(served.fake.contacts)})

        anyio.run(main)
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry") and sys.modules[m]))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "[]" == out.stdout.strip()
