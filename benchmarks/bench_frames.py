"""DataFrame of every contact: ``to_pandas()`` vs ``pd.DataFrame`` over ``collect()``.

Each way runs in a fresh process (peak RSS is per process), against answers
held in memory (no sockets), so only the client side is measured.

Run: python -m benchmarks.bench_frames [--quick]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import anyio

import bsg_async
from benchmarks._common import PrebuiltTransport


async def build(way: str, total: int) -> tuple[float, tuple[int, int]]:
    import pandas as pd  # noqa: PLC0415 - in the measured process only

    transport = PrebuiltTransport(total)
    async with bsg_async.Client("live_bench", transport=transport) as client:
        started = time.perf_counter()
        if way == "to_pandas":
            frame = await client.contacts.list().to_pandas()
        else:
            frame = pd.DataFrame([c.to_dict() for c in await client.contacts.list().collect()])
        return time.perf_counter() - started, frame.shape


def child(way: str, total: int) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, shape = anyio.run(build, way, total)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{way}: {seconds:.2f} s, shape {shape}, peak RSS +{(peak - before) / 1024:.0f} MiB")


def main(total: int) -> None:
    for way in ("to_pandas", "collect"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_frames",
                "--child",
                way,
                "--total",
                str(total),
            ],
            check=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--child", choices=["to_pandas", "collect"])
    parser.add_argument("--total", type=int, default=100_000)
    args = parser.parse_args()
    count = 2_000 if args.quick else args.total
    if args.child:
        child(args.child, count)
    else:
        main(count)
