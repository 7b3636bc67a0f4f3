"""Pacing: token bucket maths, the in-flight cap, and the shared pause."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx
import pytest

from bsg_async._coordination import TokenBucket, default_burst
from bsg_async._ratelimit import RateLimitTransport
from tests.helpers import FakeClock

pytestmark = pytest.mark.anyio


def test_bucket_spaces_reservations_evenly() -> None:
    """At 5/s with a burst of 1, ten callers at once wait 0, 0.2, 0.4 ... 1.8 s."""
    bucket = TokenBucket(rate=5, burst=1)
    waits = [round(bucket.reserve(100.0), 6) for _ in range(10)]
    assert [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8] == waits


def test_bucket_allows_burst_then_refills() -> None:
    """A burst of 3 passes at once; after 1 s at 2/s two more are free."""
    bucket = TokenBucket(rate=2, burst=3)
    assert [0.0, 0.0, 0.0, 0.5] == [bucket.reserve(0.0) for _ in range(4)]
    # The 4th reservation owed 0.5 s; at t=1.5 the balance is back to 2.
    assert [0.0, 0.0, 0.5] == [bucket.reserve(1.5) for _ in range(3)]


def test_bucket_never_exceeds_rate_plus_burst_in_a_window() -> None:
    """Send times from 200 reservations: no 1-second window holds more than rate + burst."""
    bucket = TokenBucket(rate=50, burst=default_burst(50))
    times = [bucket.reserve(0.0) for _ in range(200)]
    worst = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert worst <= 50 + default_burst(50)
    assert 5.0 == default_burst(50)


def test_bucket_rejects_bad_settings() -> None:
    """A zero rate or a burst below one is a programming error."""
    with pytest.raises(ValueError, match="rate must be"):
        TokenBucket(rate=0, burst=1)


class Recorder(httpx.AsyncBaseTransport):
    """A transport that counts concurrent requests and can block them."""

    def __init__(
        self, clock: FakeClock, responses: dict[str, httpx.Response] | None = None
    ) -> None:
        self.clock = clock
        self.active = 0
        self.peak = 0
        self.sent: list[tuple[str, float]] = []
        self.responses = responses or {}
        self.gate = anyio.Event()
        self.gate.set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.sent.append((request.url.path, self.clock.now))
        try:
            await self.gate.wait()
            await anyio.lowlevel.checkpoint()
            return self.responses.get(request.url.path, httpx.Response(200, content=b"ok"))
        finally:
            self.active -= 1


async def test_in_flight_cap_holds_until_body_read(clock: FakeClock) -> None:
    """With max_concurrency=4, 20 concurrent sends never have more than 4 in flight."""
    inner = Recorder(clock)
    pacer = RateLimitTransport(inner, max_concurrency=4, clock=clock.monotonic, sleep=clock.sleep)
    async with httpx.AsyncClient(transport=pacer) as http:

        async def one(i: int) -> None:
            response = await http.get(f"http://test/{i}")
            assert b"ok" == response.content

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
    assert (4, 20, 0) == (inner.peak, len(inner.sent), pacer.in_flight)


async def test_slot_released_on_error(clock: FakeClock) -> None:
    """A failing inner transport gives its slot back."""

    class Failing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

    pacer = RateLimitTransport(Failing(), max_concurrency=1)
    request = httpx.Request("GET", "http://test/")
    for _ in range(3):
        with pytest.raises(httpx.ConnectError):
            await pacer.handle_async_request(request)
    assert 0 == pacer.in_flight


async def test_rate_limit_spaces_sends(clock: FakeClock) -> None:
    """At 10/s (burst 1) five sequential requests go out 0.1 s apart."""
    inner = Recorder(clock)
    pacer = RateLimitTransport(inner, rate=10, clock=clock.monotonic, sleep=clock.sleep)
    async with httpx.AsyncClient(transport=pacer) as http:
        for _ in range(5):
            await http.get("http://test/x")
    start = inner.sent[0][1]
    assert [0.0, 0.1, 0.2, 0.3, 0.4] == [round(t - start, 6) for _, t in inner.sent]


async def test_retry_after_pauses_every_task(clock: FakeClock) -> None:
    """A 429 with Retry-After: 5 holds back requests from other tasks too."""
    inner = Recorder(clock, {"/limited": httpx.Response(429, headers={"Retry-After": "5"})})
    pacer = RateLimitTransport(inner, clock=clock.monotonic, sleep=clock.sleep)
    async with httpx.AsyncClient(transport=pacer) as http:
        start = clock.now
        assert 429 == (await http.get("http://test/limited")).status_code
        await http.get("http://test/other")
    assert [("/limited", 0.0), ("/other", 5.0)] == [(p, t - start) for p, t in inner.sent]
    assert [5.0] == clock.sleeps


async def test_503_without_retry_after_does_not_pause(clock: FakeClock) -> None:
    """Only a stated Retry-After pauses the client."""
    inner = Recorder(clock, {"/down": httpx.Response(503)})
    pacer = RateLimitTransport(inner, clock=clock.monotonic, sleep=clock.sleep)
    async with httpx.AsyncClient(transport=pacer) as http:
        await http.get("http://test/down")
        await http.get("http://test/other")
    assert [] == clock.sleeps
