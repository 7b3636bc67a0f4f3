"""The two token-expiry scenarios of issue 10, over a loopback socket.

Tokens that expire while requests wait in the pacing layer must never reach
the server stale. Prints time, errors, 401 answers, logins and refreshes.

    python -m benchmarks.token_waits [--quick]
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import anyio

import bsg_async
from bsg_async.testing import FakeBSG, Faults


async def _scenario(
    name: str,
    *,
    ttl: float,
    latency: float,
    ids: int,
    concurrency: int,
    rate: float | None,
    backend: str = "httpx",
) -> None:
    fake = FakeBSG(token_ttl=ttl, seed_contacts=ids, faults=Faults(latency=latency))
    with fake.serve() as server:
        async with bsg_async.Client(
            "test_emulator_key",
            base_url=server.base_url,
            rate_limit=rate,
            max_concurrency=concurrency,
            http_backend=backend,  # type: ignore[arg-type]
        ) as client:
            wanted = sorted(fake.contacts)[:ids]
            started = time.perf_counter()
            errors: Counter[str] = Counter()
            async for item in client.contacts.get_many(
                wanted, concurrency=concurrency, return_exceptions=True
            ):
                if isinstance(item, Exception):
                    errors[type(item).__name__] += 1
            elapsed = time.perf_counter() - started
    print(
        f"{name} [{backend}]: {elapsed:.2f} s, errors {dict(errors) or 0}, "
        f"401 answers {fake.stats['status:401']}, logins {fake.stats['logins']}, "
        f"refreshes {fake.stats['refreshes']}, expired tokens seen {fake.stats['expired_tokens']},"
        f" token lifetimes elapsed {elapsed / ttl:.1f}"
    )


async def main(quick: bool) -> None:
    await _scenario(
        "3 s tokens, rate_limit=10, get_many 120 ids at 64",
        ttl=3.0,
        latency=0.0,
        ids=40 if quick else 120,
        concurrency=64,
        rate=10,
    )
    for backend in ("httpx", "aiohttp"):
        await _scenario(
            "1.5 s tokens, 100 ms latency, get_many 1,500 ids at 100",
            ttl=1.5,
            latency=0.1,
            ids=300 if quick else 1500,
            concurrency=100,
            rate=None,
            backend=backend,
        )


if __name__ == "__main__":
    anyio.run(main, "--quick" in sys.argv)
