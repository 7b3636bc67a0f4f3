"""ShardedTransport: requests spread over small pools, each place given back once."""

from __future__ import annotations

import httpx
import pytest

from bsg_async._pool import SHARD_SIZE, ShardedTransport

pytestmark = pytest.mark.anyio


def _shards(connections: int) -> tuple[ShardedTransport, list[int]]:
    sizes: list[int] = []

    def make(size: int) -> httpx.AsyncBaseTransport:
        sizes.append(size)
        return httpx.MockTransport(lambda _: httpx.Response(200, content=b"ok"))

    return ShardedTransport(make, connections), sizes


@pytest.mark.parametrize(
    ("connections", "sizes"),
    [(1, [1]), (8, [8]), (9, [5, 5]), (16, [8, 8]), (64, [8] * 8), (100, [8] * 12 + [8])],
)
def test_connections_are_split_into_small_pools(connections: int, sizes: list[int]) -> None:
    """At most SHARD_SIZE connections per pool, as few pools as that allows."""
    transport, made = _shards(connections)
    assert sizes == made
    assert len(made) == len(transport.shards)
    assert all(size <= SHARD_SIZE for size in made)


async def test_requests_go_to_the_least_loaded_pool_until_closed() -> None:
    """Open answers hold their pool's place; closing the stream gives it back once."""
    transport, _ = _shards(24)
    request = httpx.Request("GET", "http://x/")
    answers = [await transport.handle_async_request(request) for _ in range(4)]
    assert [2, 1, 1] == transport._load
    # The read layer closes the raw stream, as here.
    await answers[0].stream.aclose()  # type: ignore[union-attr]
    await answers[0].stream.aclose()  # type: ignore[union-attr]  # nothing given back twice
    assert [1, 1, 1] == transport._load
    for answer in answers[1:]:
        assert [b"ok"] == [chunk async for chunk in answer.stream]  # type: ignore[union-attr]
        await answer.stream.aclose()  # type: ignore[union-attr]
    assert [0, 0, 0] == transport._load


async def test_a_failed_send_gives_its_place_back() -> None:
    """A transport error leaves no place taken."""

    def make(size: int) -> httpx.AsyncBaseTransport:
        def fail(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        return httpx.MockTransport(fail)

    transport = ShardedTransport(make, 16)
    with pytest.raises(httpx.ConnectError):
        await transport.handle_async_request(httpx.Request("GET", "http://x/"))
    assert [0, 0] == transport._load
