"""Several small httpcore pools behind one transport.

httpcore's connection pool does work proportional to its connections times
its waiting requests on every state change, so one pool with 64 or 100
requests in flight spends most of the client's CPU on bookkeeping: measured
over loopback with 100 ms of server latency, 64 in flight through one pool
took 17.8 s for 1,500 requests, through eight pools of 8 took 3.3 s. This
transport spreads requests over pools of at most ``SHARD_SIZE`` connections,
each request to the least loaded pool.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

__all__ = ["SHARD_SIZE", "ShardedTransport"]

# Connections per pool: 8 was the fastest of 5/8/10/16/20 at 64 and 100 in flight.
SHARD_SIZE = 8


class _Release(httpx.AsyncByteStream):
    """A response stream that gives its pool's place back when closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class ShardedTransport(httpx.AsyncBaseTransport):
    """Send each request through the least loaded of several transports.

    Args:
        make_shard: Builds one transport for ``n`` connections.
        connections: Connections in all; split into pools of ``SHARD_SIZE``.
    """

    def __init__(
        self, make_shard: Callable[[int], httpx.AsyncBaseTransport], connections: int
    ) -> None:
        count = max(1, math.ceil(connections / SHARD_SIZE))
        size = math.ceil(connections / count)
        self.shards = [make_shard(size) for _ in range(count)]
        self._load = [0] * count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the pool with the fewest requests in flight."""
        load = self._load
        index = load.index(min(load))
        load[index] += 1

        def release() -> None:
            load[index] -= 1

        try:
            response = await self.shards[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):  # pragma: no cover - sync transport
            release()
            raise TypeError("bsg_async needs an async transport")
        response.stream = _Release(stream, release)
        return response

    async def aclose(self) -> None:
        """Close every pool."""
        for shard in self.shards:
            await shard.aclose()
