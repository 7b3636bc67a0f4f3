"""One worker process of the many-workers tests: gets contacts through a shared client.

    python -m tests.redis.worker BASE_URL REDIS_PORT KEY RATE FIRST_ID COUNT [ON_ERROR]

Prints "ready" once its imports are done and waits for a line on stdin, so
that every worker starts its job at once (start-up CPU is not measured);
then prints one JSON line: results, error names, logins and refreshes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

import redis.asyncio

import bsg_async
from bsg_async.testing import DEFAULT_KEY


async def main(
    base_url: str, port: int, key: str, rate: float, first: int, count: int, on_error: str
) -> None:
    store = redis.asyncio.Redis(port=port)
    shared = bsg_async.RedisCoordination(store, key=key, on_error=on_error)  # type: ignore[arg-type]
    errors: Counter[str] = Counter()
    ok = 0
    async with bsg_async.Client(
        DEFAULT_KEY, base_url=base_url, rate_limit=rate, max_concurrency=8, shared=shared
    ) as client:
        async for item in client.contacts.get_many(
            [first] * count, concurrency=8, return_exceptions=True
        ):
            if isinstance(item, Exception):
                errors[type(item).__name__] += 1
            else:
                ok += 1
        auth = client._core.stack.auth
    await store.aclose()
    report = {
        "ok": ok,
        "errors": errors,
        "logins": auth.logins,
        "refreshes": auth.refreshes,
        "fallbacks": shared.fallbacks,
        "outages": shared.outages,
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    url, port, key, rate, first, count = sys.argv[1:7]
    on_error = sys.argv[7] if len(sys.argv) > 7 else "fail"
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    asyncio.run(main(url, int(port), key, float(rate), int(first), int(count), on_error))
