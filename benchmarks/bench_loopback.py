"""Over loopback against a fast pre-rendered server: SDK vs hand-written raw httpx.

Measures (medians of interleaved rounds, ratio SDK/raw in the same run):
  1. iterating 100,000 contacts into models   (target <= 1.3x raw httpx + orjson)
  2. a single contacts.get                    (target <= 1.10x)
  3. get_many of 5,000 ids, 64 callers         (target >= 2x raw httpx with 64 in flight)
  4. prefetch over 200 pages at 50 ms latency (targets: prefetch=8 >= 6x, 16 >= 10x)

Run: python -m benchmarks.bench_loopback [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import anyio
import httpx
import orjson

import bsg_async
from benchmarks._common import (
    HEADERS,
    interleaved,
    raw_gets,
    raw_walk,
    sdk_gets,
    sdk_walk,
    versions,
)
from benchmarks._server import FastServer

# get_many runs 64 callers on a client capped at 8 in flight on purpose: the
# SDK's own queue in front of a small pool is what this measures.
warnings.simplefilter("ignore", bsg_async.ConcurrencyCappedWarning)


def raw_client(base_url: str, connections: int | None = 16) -> httpx.AsyncClient:
    """Hand-written httpx: tuned pool limits, or httpx's defaults when None."""
    if connections is None:
        return httpx.AsyncClient(base_url=base_url, trust_env=False)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, trust_env=False)


async def paging(total: int, rounds: int) -> dict[str, float]:
    with FastServer(total=total) as base_url:
        client = bsg_async.Client("live_bench", base_url=base_url)
        http = raw_client(base_url)

        async def sdk() -> None:
            await sdk_walk(client, total)

        async def raw() -> None:
            await raw_walk(http, total)

        async def get_sdk() -> None:
            await sdk_gets(client, 300)

        async def get_raw() -> None:
            await raw_gets(http, 300)

        await sdk()
        await raw()
        result = await interleaved(
            {"walk_sdk": sdk, "walk_raw": raw, "get_sdk": get_sdk, "get_raw": get_raw},
            rounds,
        )
        await client.aclose()
        await http.aclose()
    return result


async def bulk(ids: int, rounds: int) -> dict[str, float]:  # noqa: C901
    with FastServer(total=1000) as base_url:
        client = bsg_async.Client("live_bench", base_url=base_url, max_concurrency=8)
        raw = raw_client(base_url, connections=None)  # what most hand-written code uses
        tuned = raw_client(base_url, connections=64)

        async def sdk() -> None:
            got = 0
            async for _ in client.contacts.get_many(range(1, ids + 1), concurrency=64):
                got += 1
            assert got == ids

        def gather(http: httpx.AsyncClient) -> object:
            async def run() -> None:
                limiter = anyio.Semaphore(64)
                done = 0

                async def one() -> None:
                    nonlocal done
                    async with limiter:
                        answer = await http.get("contacts/1", headers=HEADERS)
                        answer.raise_for_status()
                        orjson.loads(answer.content)
                        done += 1

                async with anyio.create_task_group() as group:
                    for _ in range(ids):
                        group.start_soon(one)
                assert done == ids

            return run

        raw_gather, tuned_gather = gather(raw), gather(tuned)
        runs = {"bulk_sdk": sdk, "bulk_raw": raw_gather, "bulk_tuned": tuned_gather}
        fast = _aiohttp_client(base_url)
        if fast is not None:

            async def sdk_aiohttp() -> None:
                got = 0
                async for _ in fast.contacts.get_many(range(1, ids + 1), concurrency=64):
                    got += 1
                assert got == ids

            runs["bulk_aiohttp"] = sdk_aiohttp
        for warm in runs.values():
            await warm()  # type: ignore[operator]
        result = await interleaved(runs, rounds)  # type: ignore[arg-type]
        if fast is not None:
            await fast.aclose()
        await client.aclose()
        await raw.aclose()
        await tuned.aclose()
    return result


def _aiohttp_client(base_url: str) -> bsg_async.Client | None:
    """The SDK over httpx-aiohttp's transport, when installed and on asyncio."""
    import sniffio  # noqa: PLC0415

    if sniffio.current_async_library() != "asyncio":
        return None
    try:
        return bsg_async.Client(
            "live_bench", base_url=base_url, max_concurrency=8, http_backend="aiohttp"
        )
    except bsg_async.InvalidRequestError:  # httpx-aiohttp is not installed
        return None


async def prefetch(pages: int, rounds: int) -> dict[str, float]:
    total = pages * 500
    with FastServer(total=total, latency=0.05) as base_url:
        client = bsg_async.Client("live_bench", base_url=base_url, max_concurrency=16)
        await client.contacts.get(1)

        def walk(window: int) -> object:
            async def run() -> None:
                count = 0
                async for _ in client.contacts.list(page_size=500, prefetch=window):
                    count += 1
                assert count == total

            return run

        def stream(window: int) -> object:
            async def run() -> None:
                count = 0
                paginator = client.contacts.list(page_size=500, prefetch=window)
                async with paginator.stream() as stream_pages:
                    async for page in stream_pages:
                        count += len(page.items)
                assert count == total

            return run

        result = await interleaved(
            {
                **{f"prefetch_{n}": walk(n) for n in (1, 8, 16)},
                **{f"stream_{n}": stream(n) for n in (8, 16)},
            },  # type: ignore[dict-item]
            rounds,
        )
        await client.aclose()
    return result


async def main(quick: bool, only: str | None) -> None:
    rounds = 1 if quick else 5
    print(versions())
    if only == "prefetch":
        pages = await prefetch(10 if quick else 200, 1 if quick else 3)
        base = pages["prefetch_1"]
        for name in ("prefetch_8", "prefetch_16", "stream_8", "stream_16"):
            print(
                f"{name}: {pages[name]:.2f} s, {base / pages[name]:.1f}x prefetch=1 ({base:.2f} s)"
            )
        return
    if only == "bulk":
        many = await bulk(200 if quick else 5_000, rounds)
        count = 200 if quick else 5_000
        for name, seconds in many.items():
            print(f"   {name}: {count / seconds:.0f} req/s")
        return
    started = time.perf_counter()
    walk = await paging(2_000 if quick else 100_000, rounds)
    print(
        f"1. iterate {'2,000' if quick else '100,000'} contacts: sdk {walk['walk_sdk']:.3f} s, "
        f"raw {walk['walk_raw']:.3f} s, ratio {walk['walk_sdk'] / walk['walk_raw']:.2f}x "
        "(target <= 1.3x)"
    )
    print(
        f"2. contacts.get: sdk {walk['get_sdk'] / 300 * 1e6:.0f} us, "
        f"raw {walk['get_raw'] / 300 * 1e6:.0f} us, "
        f"ratio {walk['get_sdk'] / walk['get_raw']:.2f}x (target <= 1.10x)"
    )
    many = await bulk(200 if quick else 5_000, rounds)
    count = 200 if quick else 5_000
    print(
        f"3. get_many {count:,} ids: sdk {count / many['bulk_sdk']:.0f} req/s, "
        f"raw 64 in flight {count / many['bulk_raw']:.0f} req/s "
        f"(with tuned pool limits {count / many['bulk_tuned']:.0f}), "
        f"speed-up {many['bulk_raw'] / many['bulk_sdk']:.2f}x (target >= 2x)"
    )
    if "bulk_aiohttp" in many:
        print(
            f"3b. the same with http_backend='aiohttp': "
            f"{count / many['bulk_aiohttp']:.0f} req/s, "
            f"{many['bulk_raw'] / many['bulk_aiohttp']:.2f}x raw httpx"
        )
    else:
        print("3b. aiohttp: not measured (httpx-aiohttp not installed, or not on asyncio)")
    pages = await prefetch(10 if quick else 200, 1 if quick else 3)
    base = pages["prefetch_1"]
    print(
        f"4. {10 if quick else 200} pages at 50 ms: prefetch=1 {base:.2f} s, "
        f"8: {pages['prefetch_8']:.2f} s ({base / pages['prefetch_8']:.1f}x, target >= 6x), "
        f"16: {pages['prefetch_16']:.2f} s ({base / pages['prefetch_16']:.1f}x, target >= 10x)"
    )
    print(
        f"4b. the same through stream() (a sliding window): "
        f"8: {pages['stream_8']:.2f} s ({base / pages['stream_8']:.1f}x, target >= 7x), "
        f"16: {pages['stream_16']:.2f} s ({base / pages['stream_16']:.1f}x, target >= 12x)"
    )
    print(f"(took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--only", choices=["bulk", "prefetch"], help="run one part")
    args = parser.parse_args()
    anyio.run(main, args.quick, args.only, backend_options={"use_uvloop": args.uvloop})
