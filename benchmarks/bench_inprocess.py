"""SDK overhead without sockets: iterate contacts into models vs raw httpx + orjson.

Run: python benchmarks/bench_inprocess.py [--quick]
"""

from __future__ import annotations

import argparse

import anyio
import httpx
import orjson

import bsg_async
from benchmarks._common import TOKEN, PrebuiltTransport, interleaved, versions


async def main(total: int, rounds: int) -> None:
    transport = PrebuiltTransport(total)
    client = bsg_async.Client("live_bench", transport=transport)
    raw = httpx.AsyncClient(transport=transport, base_url="https://one-api.bsg.world/api")
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def sdk() -> int:
        count = 0
        async for _ in client.contacts.list(page_size=500):
            count += 1
        assert count == total
        return count

    async def raw_httpx() -> int:
        count, offset = 0, 0
        while True:
            answer = await raw.get(
                "/contacts",
                params={"page[limit]": 500, "page[offset]": offset},
                headers=headers,
            )
            answer.raise_for_status()
            body = orjson.loads(answer.content)
            rows = body["data"]
            count += len(rows)
            offset += len(rows)
            if not rows or offset >= body["total"]:
                break
        assert count == total
        return count

    async def single_sdk() -> None:
        for _ in range(200):
            await client.contacts.get(1)

    async def single_raw() -> None:
        for _ in range(200):
            answer = await raw.get("/contacts/1", headers=headers)
            answer.raise_for_status()
            orjson.loads(answer.content)

    await sdk()  # log in, warm up
    medians = await interleaved(
        {"sdk": sdk, "raw": raw_httpx, "get_sdk": single_sdk, "get_raw": single_raw}, rounds
    )
    await client.aclose()
    await raw.aclose()
    per_contact = {k: v / total * 1e6 for k, v in medians.items() if k in {"sdk", "raw"}}
    print(versions())
    print(f"in-process, {total:,} contacts in pages of 500, median of {rounds} rounds")
    print(f"  sdk  {medians['sdk']:.3f} s  ({per_contact['sdk']:.2f} us/contact)")
    print(f"  raw  {medians['raw']:.3f} s  ({per_contact['raw']:.2f} us/contact)")
    print(f"  ratio sdk/raw: {medians['sdk'] / medians['raw']:.2f}x (target <= 1.5x)")
    print(
        f"  contacts.get x200: sdk {medians['get_sdk'] * 5:.3f} ms/call, "
        f"raw {medians['get_raw'] * 5:.3f} ms/call, "
        f"ratio {medians['get_sdk'] / medians['get_raw']:.2f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = parser.parse_args()
    anyio.run(main, 2_000 if args.quick else 100_000, 1 if args.quick else 5)
