"""``get_many`` when 10% of the answers fail, against the same call without faults.

The emulator over loopback answers 500 to one request in ten (seeded); the
client retries with its defaults (3 retries, 0.5 s exponential backoff with
jitter). Read in input order, the results behind an item with a run of
retries wait for it once ``concurrency * 16`` of them are ready; read with
``as_completed()``, nothing waits. Prints seconds and the ratio
fault-free / faulty (1.0: faults cost nothing).

    python -m benchmarks.bench_faults [--quick]
"""

from __future__ import annotations

import sys
import time

import anyio

import bsg_async
from bsg_async.testing import DEFAULT_KEY, FakeBSG, Faults

WIDTH = 64


async def _run(ids: int, fault_rate: float, *, in_order: bool, seed: int) -> float:
    """Seconds for ``get_many`` of ``ids`` contacts; every id must come back once."""
    fake = FakeBSG(seed_contacts=ids, duplicate_window=0)
    with fake.serve() as server:
        async with bsg_async.Client(
            DEFAULT_KEY, base_url=server.base_url, max_concurrency=WIDTH
        ) as client:
            wanted = sorted(fake.contacts)
            await client.contacts.get(wanted[0])  # logged in before the clock starts
            fake.faults = Faults(error_500=fault_rate, seed=seed)
            bulk = client.contacts.get_many(wanted, concurrency=WIDTH, return_exceptions=True)
            started = time.perf_counter()
            if in_order:
                got = len([result async for result in bulk])
            else:
                got = len({index async for index, _ in bulk.as_completed()})
            elapsed = time.perf_counter() - started
    assert got == ids, "a result went missing"
    return elapsed


async def main(quick: bool) -> None:
    sizes = (1_000,) if quick else (5_000, 20_000)
    for ids in sizes:
        for in_order in (True, False):
            clean = await _run(ids, 0.0, in_order=in_order, seed=1)
            faulty = await _run(ids, 0.1, in_order=in_order, seed=1)
            way = "async for (input order)" if in_order else "as_completed()"
            print(
                f"get_many {ids:,} ids at {WIDTH}, {way}: fault-free {clean:.2f} s,"
                f" 10% 500s {faulty:.2f} s, ratio {clean / faulty:.2f}"
            )


if __name__ == "__main__":
    anyio.run(main, "--quick" in sys.argv[1:])
