"""Peak memory of streaming contacts page by page (in process, no sockets).

Each size runs in a fresh interpreter; the figure is peak RSS during the walk
minus RSS just before it. Target: 1,000,000 contacts <= idle + 20 MB, and
within 10% of the figure for 100,000.

Run: python -m benchmarks.bench_memory [--quick]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

import anyio
import httpx

from benchmarks._common import LOGIN, render_page
from bsg_async._pagination import RECENT_PAGES

# Distinct pages served in turn: more than the paginator remembers
# (RECENT_PAGES), so it never sees a page of rows it already received.
CYCLE = RECENT_PAGES + 1


class OnePageTransport(httpx.AsyncBaseTransport):
    """Serves a few pre-rendered pages in turn (memory stays the client's).

    A server repeating one page for every offset is one the paginator stops
    (``PagingError``), so the pages differ; all are rendered before measuring.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.pages = [render_page(n * 500, 500, max(total, CYCLE * 500)) for n in range(CYCLE)]
        self.pages = [_with_total(page, total) for page in self.pages]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/login"):
            return httpx.Response(200, content=LOGIN)
        offset = int(request.url.params.get("page[offset]", "0"))
        return httpx.Response(200, content=self.pages[offset // 500 % CYCLE])


def _with_total(page: bytes, total: int) -> bytes:
    """The page with its ``total`` set to ``total``."""
    head, _, _ = page.rpartition(b'"total": ')
    return head + f'"total": {total}}}'.encode()


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def walk(total: int) -> None:
    import bsg_async  # noqa: PLC0415

    async with bsg_async.Client("live_bench", transport=OnePageTransport(total)) as client:
        before = peak_kib()
        count = 0
        async for _ in client.contacts.list(page_size=500):
            count += 1
        assert count == total
        print(f"{total} {before} {peak_kib() - before}")


def measure(total: int) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", "--child", str(total)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[1]), int(out[2])


def main(quick: bool) -> None:
    sizes = (10_000, 100_000) if quick else (100_000, 1_000_000)
    results = {size: measure(size) for size in sizes}
    for size, (idle, grown) in results.items():
        print(
            f"streaming {size:>9,} contacts: idle {idle / 1024:.1f} MiB, "
            f"peak growth {grown / 1024:.1f} MiB (target <= 20 MiB)"
        )
    small, large = (results[s][1] for s in sizes)
    print(
        f"growth ratio {sizes[1]:,} / {sizes[0]:,}: "
        f"{(large + 1) / (small + 1):.2f} (flat when close to 1)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        anyio.run(walk, args.child)
    else:
        main(args.quick)
