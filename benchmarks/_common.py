"""Shared pieces of the benchmarks: pre-rendered answers, timing, reporting."""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
import sys
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

import httpx
import orjson

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

TOKEN = "bench-token"
LOGIN = json.dumps({"bearer": TOKEN}).encode()


def contact(contact_id: int) -> dict[str, object]:
    """One contact shaped like the API's answers (one list, one custom field)."""
    return {
        "id": contact_id,
        "phone": 380_000_000_000 + contact_id,
        "fields": {"388077": f"Name {contact_id}"},
        "groups": [
            {
                "id": 1864618,
                "name": "1111",
                "description": None,
                "default": False,
                "items": 0,
                "created_at": "2025-02-19 14:50:21",
                "stop_list_count": 0,
            }
        ],
        "hlr_status": "unknown",
        "hlr_last_check": None,
        "created_at": "2025-02-19 14:51:44",
    }


HEADERS = {"Authorization": f"Bearer {TOKEN}"}


async def sdk_walk(client: Any, total: int) -> None:
    """Iterate every contact into models with the SDK."""
    count = 0
    async for _ in client.contacts.list(page_size=500):
        count += 1
    assert count == total


async def raw_walk(http: httpx.AsyncClient, total: int) -> None:
    """The same walk written by hand: httpx, orjson, dicts."""
    count = offset = 0
    while True:
        answer = await http.get(
            "contacts", params={"page[limit]": 500, "page[offset]": offset}, headers=HEADERS
        )
        answer.raise_for_status()
        body = orjson.loads(answer.content)
        count += len(body["data"])
        offset += len(body["data"])
        if not body["data"] or offset >= body["total"]:
            break
    assert count == total


async def sdk_gets(client: Any, calls: int) -> None:
    """``contacts.get`` in a row."""
    for _ in range(calls):
        await client.contacts.get(1)


async def raw_gets(http: httpx.AsyncClient, calls: int) -> None:
    """The same gets by hand."""
    for _ in range(calls):
        answer = await http.get("contacts/1", headers=HEADERS)
        answer.raise_for_status()
        orjson.loads(answer.content)


def render_page(offset: int, limit: int, total: int) -> bytes:
    rows = [contact(i + 1) for i in range(offset, min(offset + limit, total))]
    return json.dumps({"data": rows, "total": total}).encode()


def render_single(contact_id: int) -> bytes:
    return json.dumps({"data": contact(contact_id)}).encode()


class PrebuiltTransport(httpx.AsyncBaseTransport):
    """Answers from memory: isolates client-side cost (no sockets)."""

    def __init__(self, total: int, page_size: int = 500) -> None:
        self.total = total
        self.pages = {
            offset: render_page(offset, page_size, total) for offset in range(0, total, page_size)
        }
        self.empty = render_page(total, page_size, total)
        self.single = render_single(1)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        headers = {"content-type": "application/json"}
        if path.endswith("/auth/login"):
            return httpx.Response(200, content=LOGIN, headers=headers)
        if path.endswith("/contacts"):
            offset = int(request.url.params.get("page[offset]", "0"))
            return httpx.Response(200, content=self.pages.get(offset, self.empty), headers=headers)
        return httpx.Response(200, content=self.single, headers=headers)


async def timed(func: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await func()
    return time.perf_counter() - started


async def interleaved(
    runs: dict[str, Callable[[], Awaitable[object]]], rounds: int
) -> dict[str, float]:
    """Median seconds per variant, the variants interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, func in runs.items():
            samples[name].append(await timed(func))
    return {name: statistics.median(values) for name, values in samples.items()}


def versions() -> str:
    names = ("httpx", "httpcore", "anyio", "attrs", "cattrs", "orjson")
    found = []
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return f"Python {sys.version.split()[0]} on {platform.machine()}; " + ", ".join(found)
