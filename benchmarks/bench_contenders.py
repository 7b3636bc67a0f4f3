"""The SDK beside the other ways to reach the API, in one run.

Contenders, each doing the whole job (login, requests, decoding into usable
objects), interleaved round by round against one pre-rendered server in its
own process:

- ``official``: BSG's generated synchronous SDK (``bsg-sdk``) on a thread
  pool. Its models reject the API's documented contacts (``fields`` as an
  object), so it reads each answer with ``*_without_preload_content`` and
  ``orjson.loads``: dicts, the best it can do.
- ``sdk``: this SDK with its defaults; ``sdk_httpx`` / ``sdk_aiohttp`` force
  a backend.
- ``raw_aiohttp``: hand-written aiohttp + orjson (asyncio only).
- ``raw_httpx``: hand-written httpx + orjson.

Each row gives wall time and CPU time per request (``getrusage`` of this
process: every thread, not the server), the fairest figure on a shared
machine. Contenders whose package is missing are left out and said so.

Run: python -m benchmarks.bench_contenders [--quick] [--only get_many|get|walk|stream]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx
import orjson

import bsg_async
from benchmarks._common import HEADERS, versions
from benchmarks._server import FastServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

warnings.simplefilter("ignore", bsg_async.ConcurrencyCappedWarning)

Run = "Callable[[], Awaitable[int]]"  # a contender: does the job, returns its request count


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(runs: dict[str, Any], rounds: int) -> dict[str, tuple[float, float, int]]:
    """Median wall seconds and CPU seconds per contender, interleaved by round."""
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    counts: dict[str, int] = {}
    for run in runs.values():
        await run()  # warm: connections, login, caches
    for _ in range(rounds):
        for name, run in runs.items():
            cpu, wall = _cpu(), time.perf_counter()
            counts[name] = await run()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(_cpu() - cpu)
    return {
        name: (statistics.median(walls[name]), statistics.median(cpus[name]), counts[name])
        for name in runs
    }


class _Official:
    """bsg-sdk: sync, urllib3, a thread pool of ``threads``."""

    def __init__(self, base_url: str, threads: int) -> None:
        import bsg_api  # noqa: PLC0415 - optional contender

        config = bsg_api.Configuration(host=base_url.removesuffix("/api"))
        config.connection_pool_maxsize = threads
        api = bsg_api.ApiClient(config)
        login = bsg_api.AuthApi(api).login(bsg_api.LoginRequest(api_key="live_bench"))
        config.access_token = login.bearer
        self.contacts = bsg_api.ContactApi(api)
        self.pool = ThreadPoolExecutor(threads)

    def get(self, contact_id: int) -> dict[str, Any]:
        answer = self.contacts.contact_without_preload_content(contact_id)
        if answer.status != 200:
            raise RuntimeError(answer.status)
        return orjson.loads(answer.data)  # type: ignore[no-any-return]

    def many(self, ids: int) -> int:
        return sum(1 for _ in self.pool.map(self.get, range(1, ids + 1)))

    def walk(self, total: int) -> int:
        count = offset = requests = 0
        while offset < total:
            answer = self.contacts.contacts_without_preload_content(
                page_limit=500, page_offset=offset
            )
            body = orjson.loads(answer.data)
            requests += 1
            count += len(body["data"])
            offset += len(body["data"])
            if not body["data"]:
                break
        assert count == total
        return requests


def _official(base_url: str, threads: int) -> _Official | None:
    try:
        return _Official(base_url, threads)
    except ImportError:
        return None


class _RawAiohttp:
    def __init__(self, base_url: str, connections: int) -> None:
        import aiohttp  # noqa: PLC0415 - optional contender

        self.base = base_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections), headers=HEADERS
        )

    async def get(self, contact_id: int) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/contacts/{contact_id}") as answer:
            answer.raise_for_status()
            return orjson.loads(await answer.read())  # type: ignore[no-any-return]

    async def page(self, offset: int) -> dict[str, Any]:
        params = {"page[limit]": "500", "page[offset]": str(offset)}
        async with self.session.get(f"{self.base}/contacts", params=params) as answer:
            answer.raise_for_status()
            return orjson.loads(await answer.read())  # type: ignore[no-any-return]


class _RawHttpx:
    def __init__(self, base_url: str, connections: int) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(
            base_url=base_url + "/", limits=limits, headers=HEADERS, trust_env=False
        )

    async def get(self, contact_id: int) -> dict[str, Any]:
        answer = await self.http.get(f"contacts/{contact_id}")
        answer.raise_for_status()
        return orjson.loads(answer.content)  # type: ignore[no-any-return]

    async def page(self, offset: int) -> dict[str, Any]:
        params = {"page[limit]": 500, "page[offset]": offset}
        answer = await self.http.get("contacts", params=params)
        answer.raise_for_status()
        return orjson.loads(answer.content)  # type: ignore[no-any-return]


async def _gather(get: Callable[[int], Awaitable[object]], ids: int, width: int) -> int:
    """``ids`` gets with at most ``width`` in flight (what hand-written code does)."""
    limiter = anyio.Semaphore(width)

    async def one(contact_id: int) -> None:
        async with limiter:
            await get(contact_id)

    async with anyio.create_task_group() as group:
        for contact_id in range(1, ids + 1):
            group.start_soon(one, contact_id)
    return ids


async def _raw_walk(page: Callable[[int], Awaitable[dict[str, Any]]], total: int) -> int:
    count = offset = requests = 0
    while offset < total:
        body = await page(offset)
        requests += 1
        count += len(body["data"])
        offset += len(body["data"])
        if not body["data"]:
            break
    assert count == total
    return requests


async def _raw_sliding(
    page: Callable[[int], Awaitable[dict[str, Any]]], total: int, width: int
) -> int:
    """Pages in order with ``width`` requests in flight (known total)."""
    offsets = list(range(0, total, 500))
    results: dict[int, dict[str, Any]] = {}
    limiter = anyio.Semaphore(width)

    async def one(offset: int) -> None:
        async with limiter:
            results[offset] = await page(offset)

    async with anyio.create_task_group() as group:
        for offset in offsets:
            group.start_soon(one, offset)
    assert sum(len(results[offset]["data"]) for offset in offsets) == total
    return len(offsets)


def _sdk_clients(base_url: str, width: int) -> dict[str, bsg_async.Client]:
    clients = {
        "sdk": bsg_async.Client("live_bench", base_url=base_url, max_concurrency=width),
        "sdk_httpx": bsg_async.Client(
            "live_bench", base_url=base_url, max_concurrency=width, http_backend="httpx"
        ),
    }
    with contextlib.suppress(bsg_async.InvalidRequestError):  # httpx-aiohttp not installed
        clients["sdk_aiohttp"] = bsg_async.Client(
            "live_bench", base_url=base_url, max_concurrency=width, http_backend="aiohttp"
        )
    return clients


def _raw(base_url: str, width: int) -> dict[str, Any]:
    raws: dict[str, Any] = {"raw_httpx": _RawHttpx(base_url, width)}
    with contextlib.suppress(ImportError):
        raws["raw_aiohttp"] = _RawAiohttp(base_url, width)
    return raws


async def _close(clients: dict[str, bsg_async.Client], raws: dict[str, Any]) -> None:
    for client in clients.values():
        await client.aclose()
    if "raw_aiohttp" in raws:
        await raws["raw_aiohttp"].session.close()
    await raws["raw_httpx"].http.aclose()


async def get_many(ids: int, width: int, rounds: int) -> dict[str, tuple[float, float, int]]:
    """``ids`` gets of one contact with ``width`` in flight."""
    with FastServer(total=1000) as base_url:
        clients, raws = _sdk_clients(base_url, width), _raw(base_url, width)
        runs: dict[str, Any] = {}
        for threads in (16, 64):
            official = _official(base_url, threads)
            if official is not None:

                async def run_official(official: _Official = official) -> int:
                    return await anyio.to_thread.run_sync(official.many, ids)

                runs[f"official_{threads}"] = run_official
        for name, client in clients.items():

            async def run_sdk(client: bsg_async.Client = client) -> int:
                got = 0
                async for _ in client.contacts.get_many(range(1, ids + 1), concurrency=width):
                    got += 1
                assert got == ids
                return ids

            runs[name] = run_sdk
        for name, raw in raws.items():

            async def run_raw(raw: Any = raw) -> int:
                return await _gather(raw.get, ids, width)

            runs[name] = run_raw
        result = await _measure(runs, rounds)
        await _close(clients, raws)
    return result


async def single_get(calls: int, rounds: int) -> dict[str, tuple[float, float, int]]:
    """``calls`` gets one after another: the latency of one call."""
    with FastServer(total=1000) as base_url:
        clients, raws = _sdk_clients(base_url, 16), _raw(base_url, 16)
        runs: dict[str, Any] = {}
        official = _official(base_url, 1)
        if official is not None:
            runs["official"] = lambda: anyio.to_thread.run_sync(
                lambda: sum(1 for _ in map(official.get, [1] * calls))
            )
        for name, client in clients.items():

            async def run_sdk(client: bsg_async.Client = client) -> int:
                for _ in range(calls):
                    await client.contacts.get(1)
                return calls

            runs[name] = run_sdk
        for name, raw in raws.items():

            async def run_raw(raw: Any = raw) -> int:
                for _ in range(calls):
                    await raw.get(1)
                return calls

            runs[name] = run_raw
        result = await _measure(runs, rounds)
        await _close(clients, raws)
    return result


async def walk(total: int, rounds: int) -> dict[str, tuple[float, float, int]]:
    """Every contact, page by page (500 a page), one page at a time."""
    with FastServer(total=total) as base_url:
        clients, raws = _sdk_clients(base_url, 16), _raw(base_url, 16)
        runs: dict[str, Any] = {}
        official = _official(base_url, 1)
        if official is not None:
            runs["official"] = lambda: anyio.to_thread.run_sync(official.walk, total)
        for name, client in clients.items():

            async def run_sdk(client: bsg_async.Client = client) -> int:
                count = 0
                async for _ in client.contacts.list(page_size=500):
                    count += 1
                assert count == total
                return -(-total // 500)

            runs[name] = run_sdk
        for name, raw in raws.items():

            async def run_raw(raw: Any = raw) -> int:
                return await _raw_walk(raw.page, total)

            runs[name] = run_raw
        result = await _measure(runs, rounds)
        await _close(clients, raws)
    return result


async def stream(pages: int, rounds: int) -> dict[str, tuple[float, float, int]]:
    """``pages`` pages at 50 ms of server latency, 16 in flight."""
    total = pages * 500
    with FastServer(total=total, latency=0.05) as base_url:
        clients, raws = _sdk_clients(base_url, 16), _raw(base_url, 16)
        runs: dict[str, Any] = {}
        for name, client in clients.items():

            async def run_for(client: bsg_async.Client = client) -> int:
                count = 0
                async for _ in client.contacts.list(page_size=500, prefetch=16):
                    count += 1
                assert count == total
                return pages

            async def run_stream(client: bsg_async.Client = client) -> int:
                count = 0
                async with client.contacts.list(page_size=500, prefetch=16).stream() as each:
                    async for page in each:
                        count += len(page.items)
                assert count == total
                return pages

            runs[f"{name}_for"] = run_for
            runs[f"{name}_stream"] = run_stream
        for name, raw in raws.items():

            async def run_raw(raw: Any = raw) -> int:
                return await _raw_sliding(raw.page, total, 16)

            runs[name] = run_raw
        result = await _measure(runs, rounds)
        await _close(clients, raws)
    return result


def _report(title: str, result: dict[str, tuple[float, float, int]]) -> None:
    print(title)
    for name, (wall, cpu, requests) in result.items():
        print(
            f"   {name:22s} {wall:7.3f} s  {requests / wall:8.0f} req/s  "
            f"{wall / requests * 1e6:8.0f} us/req  CPU {cpu / requests * 1e6:6.0f} us/req"
        )


async def main(quick: bool, only: str | None) -> None:
    rounds = 1 if quick else 5
    print(versions())
    if only in (None, "get_many"):
        ids = 200 if quick else 5_000
        _report(f"get_many: {ids:,} ids, 64 in flight", await get_many(ids, 64, rounds))
    if only in (None, "get"):
        calls = 20 if quick else 500
        _report(f"get: {calls} calls in a row", await single_get(calls, rounds))
    if only in (None, "walk"):
        total = 2_000 if quick else 100_000
        _report(f"walk: {total:,} contacts, pages of 500", await walk(total, rounds))
    if only in (None, "stream"):
        pages = 20 if quick else 200
        _report(
            f"stream: {pages} pages at 50 ms, 16 in flight",
            await stream(pages, 1 if quick else 3),
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run (CI)")
    parser.add_argument("--only", choices=("get_many", "get", "walk", "stream"))
    arguments = parser.parse_args()
    anyio.run(main, arguments.quick, arguments.only)
