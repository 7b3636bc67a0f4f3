"""SDK overhead without sockets: iterate contacts into models vs raw httpx + orjson.

Run: python benchmarks/bench_inprocess.py [--quick]
"""

from __future__ import annotations

import argparse

import anyio
import httpx

import bsg_async
from benchmarks._common import (
    PrebuiltTransport,
    interleaved,
    raw_gets,
    raw_walk,
    sdk_gets,
    sdk_walk,
    versions,
)


async def main(total: int, rounds: int) -> None:
    transport = PrebuiltTransport(total)
    client = bsg_async.Client("live_bench", transport=transport)
    raw = httpx.AsyncClient(transport=transport, base_url="https://one-api.bsg.world/api")

    async def sdk() -> None:
        await sdk_walk(client, total)

    async def raw_httpx() -> None:
        await raw_walk(raw, total)

    async def single_sdk() -> None:
        await sdk_gets(client, 200)

    async def single_raw() -> None:
        await raw_gets(raw, 200)

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
