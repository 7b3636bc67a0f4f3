"""Reliability under faults, load, cancellation and hostile answers.

The sizes are the short CI variants; ``BSG_CHAOS=long`` (the ``chaos`` nox
session) runs 100,000 contacts with 40% faults.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest
import trio.testing

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG, Faults
from tests.helpers import backends_on, raw_server

pytestmark = pytest.mark.anyio

LONG = os.environ.get("BSG_CHAOS") == "long"
CONTACTS = 100_000 if LONG else 10_000
FAULT_RATE = 0.4 if LONG else 0.2
CREATES = 10_000 if LONG else 2_000


def faults(rate: float, seed: int) -> Faults:
    """An even mix of 500, HTML 502, 503 + Retry-After, drops and slow answers."""
    share = rate / 5
    return Faults(
        error_500=share,
        error_502_html=share,
        error_503_retry_after=share,
        drop=share,
        slow=share,
        slow_seconds=1.0,
        retry_after=0.0,
        seed=seed,
    )


FAULT_KINDS = ("500", "502", "503", "drop", "slow")


@pytest.fixture(scope="module")
def book() -> Iterator[EmulatorServer]:
    """One loopback emulator with the big contact book, shared by the walks."""
    with FakeBSG(seed_contacts=CONTACTS, seed=5).serve() as server:
        yield server


def client_for(server: EmulatorServer, **options: Any) -> bsg_async.Client:
    options.setdefault("retry_backoff", 0.0)
    options.setdefault("timeout", 0.4)
    return bsg_async.Client(DEFAULT_KEY, base_url=server.base_url, **options)


async def test_walk_delivers_each_contact_once_in_order(book: EmulatorServer) -> None:
    """Every contact exactly once, in order, while a fifth of the requests fail."""
    fake = book.fake
    fake.faults = faults(FAULT_RATE, seed=21)
    before = fake.stats.copy()
    try:
        async with client_for(book, max_retries=25) as client:
            ids = [c.id async for c in client.contacts.list(page_size=100)]
    finally:
        fake.faults = Faults()
    assert list(fake.contacts) == ids
    injected = {k: fake.stats[f"fault:{k}"] - before[f"fault:{k}"] for k in FAULT_KINDS}
    assert all(count > 0 for count in injected.values()), injected
    pages = CONTACTS // 100
    sent = fake.stats["route:contacts_list"] - before["route:contacts_list"]
    assert pages + sum(injected.values()) == sent


async def test_too_few_retries_name_the_offset_and_resume(book: EmulatorServer) -> None:
    """With no retries the walk stops with a typed error at an offset; resuming completes it."""
    fake = book.fake
    fake.faults = faults(FAULT_RATE, seed=3)
    ids: list[int] = []
    offset = 0
    stops: list[int] = []
    try:
        async with client_for(book, max_retries=0) as client:
            while True:
                try:
                    async for contact in client.contacts.list(page_size=500, offset=offset):
                        ids.append(contact.id)
                    break
                except bsg_async.BSGError as exc:
                    assert exc.offset is not None
                    assert exc.offset == len(ids)
                    stops.append(exc.offset)
                    offset = exc.offset
    finally:
        fake.faults = Faults()
    assert stops, "the faults never stopped the walk"
    assert list(fake.contacts) == ids


async def test_create_many_under_faults_creates_each_row_once() -> None:
    """2,000 creates under faults: each row created once or reported, never twice."""
    fake = FakeBSG(faults=faults(FAULT_RATE, seed=8))
    phones = [61_400_000_000 + n for n in range(CREATES)]
    with fake.serve() as server:
        async with client_for(server, max_retries=6) as client:
            results = [
                r
                async for r in client.contacts.create_many(
                    [{"phone": p} for p in phones], concurrency=16, return_exceptions=True
                )
            ]
    stored = {c["phone"]: c["id"] for c in fake.contacts.values()}
    created = [r for r in results if isinstance(r, bsg_async.Contact)]
    failed = [(p, r) for p, r in zip(phones, results, strict=True) if isinstance(r, Exception)]
    # Every success is in the book under its own id; no phone was created twice.
    assert all(stored[c.phone] == c.id for c in created)
    assert CREATES == len(created) + len(failed)
    # No phone was in the book before: no row may be told "already exists".
    # (A create applied late answers a re-send 422; that row is settled as
    # this call's Contact, which the checks above and below hold to.)
    assert [] == [p for p, e in failed if isinstance(e, bsg_async.UnprocessableEntityError)]
    for phone, error in failed:
        assert isinstance(error, bsg_async.BSGError)
        assert str(error)
        # A failure is either definite (not stored) or flagged for a lookup.
        assert error.may_have_been_applied or phone not in stored
    assert fake.stats["fault:after_apply"] > 0
    assert len(stored) == len(created) + sum(1 for p, _ in failed if p in stored)


class TickingBSG(FakeBSG):
    """An emulator whose clock moves 10 ms per request it answers."""

    def __init__(self, clock: SharedClock, **options: Any) -> None:
        self.shared = clock
        super().__init__(clock=clock.time, **options)

    def handle(self, *args: Any, **kwargs: Any) -> Any:
        self.shared.offset += 0.01
        return super().handle(*args, **kwargs)


class SharedClock(bsg_async.Clock):
    """Wall time the SDK and the emulator share; moved by the emulator."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


async def test_token_expiry_every_few_seconds_under_100_tasks() -> None:
    """A 3 s token under a 100-task job: no request fails, one refresh per lifetime."""
    clock = SharedClock()
    fake = TickingBSG(clock, seed_contacts=500, token_ttl=3.0)
    ids = list(fake.contacts) * 6
    start = clock.time()
    async with fake.client(clock=clock, max_concurrency=100) as client:
        got = [c.id async for c in client.contacts.get_many(ids, concurrency=100)]
    assert ids == got
    # Both sides age tokens on the shared clock: the 10 ms per request plus
    # the real time the run took (more on a busy machine).
    elapsed = clock.time() - start
    assert (1, 0) == (fake.stats["logins"], fake.stats["expired_tokens"])
    # A token is refreshed 0.3 s before its exp: one refresh per 2.7 s, no extras.
    assert int(elapsed / 2.7) - 1 <= fake.stats["refreshes"] <= int(elapsed / 2.7) + 1
    assert fake.stats["refreshes"] >= 5


def _assert_no_busy_connection(client: bsg_async.Client, backend: str) -> None:
    """Every connection of the client's own transport is idle, closed or free to take."""
    innermost: Any = client._core.stack.reader._transport
    if backend == "aiohttp":
        session = innermost._transport.client  # AiohttpOutcomes over httpx-aiohttp's transport
        assert 0 == len(session.connector._acquired)
        return
    assert [0, 0, 0, 0] == innermost._load  # 32 connections in pools of 8
    for pool in [shard._pool for shard in innermost.shards]:
        assert [] == list(pool._requests)
        assert all(not c.is_available() or c.is_idle() or c.is_closed() for c in pool.connections)


async def test_cancelling_100_tasks_leaks_nothing(book: EmulatorServer, anyio_backend: str) -> None:
    """100 tasks cancelled mid-request and mid-walk: no busy connection, no task, client fine."""
    fake = book.fake
    for backend in backends_on(anyio_backend):
        async with client_for(
            book, timeout=10.0, max_concurrency=32, http_backend=backend
        ) as client:
            first = next(iter(fake.contacts))
            await client.contacts.get(first)
            tasks_before = len(anyio.get_running_tasks())
            fake.faults = Faults(latency=0.5)
            try:
                with anyio.move_on_after(0.2):
                    async with anyio.create_task_group() as group:
                        for n in range(100):
                            if n % 2:
                                group.start_soon(client.contacts.get, first + n)
                            else:
                                group.start_soon(client.contacts.list(page_size=100).collect)
            finally:
                fake.faults = Faults()
            assert tasks_before == len(anyio.get_running_tasks()), backend
            assert 0 == client._core.stack.pacer.in_flight, backend
            _assert_no_busy_connection(client, backend)
            with anyio.fail_after(10):
                assert first == (await client.contacts.get(first)).id


async def test_aclose_during_work_ends_it_with_a_clear_error(book: EmulatorServer) -> None:
    """aclose() while 20 tasks page ends each with ClientClosedError, promptly."""
    fake = book.fake
    client = client_for(book, timeout=10.0)
    await client.contacts.get(next(iter(fake.contacts)))
    errors: list[BaseException] = []

    async def walk() -> None:
        try:
            await client.contacts.list(page_size=100).collect()
        except bsg_async.BSGError as exc:
            errors.append(exc)

    fake.faults = Faults(latency=1.0)
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(walk)
                await anyio.sleep(0.2)
                await client.aclose()
    finally:
        fake.faults = Faults()
    assert 20 == len(errors)
    assert all(isinstance(e, bsg_async.ClientClosedError) for e in errors)
    assert all("client was closed" in str(e) for e in errors)
    with pytest.raises(bsg_async.ClientClosedError, match="client is closed"):
        await client.contacts.get(1)


def on_virtual_time() -> pytest.MarkDecorator:
    """Run a test on trio with a clock of its own that jumps whenever all tasks wait."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    return pytest.mark.parametrize(
        "anyio_backend", [pytest.param(("trio", {"clock": clock}), id="trio-virtual-time")]
    )


class VirtualClock(bsg_async.Clock):
    """The SDK's time is the event loop's (trio's MockClock jumps it)."""

    def monotonic(self) -> float:
        return anyio.current_time()

    def time(self) -> float:
        return 1_700_000_000.0 + anyio.current_time()


@on_virtual_time()
async def test_rate_limit_holds_in_every_window() -> None:
    """500 requests from 50 tasks at rate_limit=50: no 1 s window over 50 + burst."""
    fake = FakeBSG(seed_contacts=100, clock=lambda: 1_700_000_000.0 + anyio.current_time())
    async with fake.client(clock=VirtualClock(), rate_limit=50, max_concurrency=50) as client:
        await client.contacts.get(next(iter(fake.contacts)))
        start = len(fake.request_times)
        ids = [next(iter(fake.contacts))] * 500
        got = [c.id async for c in client.contacts.get_many(ids, concurrency=50)]
    assert ids == got
    times = fake.request_times[start:]
    worst = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert worst <= 50 + 5
    assert times[-1] - times[0] >= (500 - 5) / 50 - 0.5


@on_virtual_time()
async def test_429_with_retry_after_pauses_every_task() -> None:
    """After a 429 with Retry-After: 2, no task sends anything for 2 s."""
    fake = FakeBSG(seed_contacts=100, clock=lambda: 1_700_000_000.0 + anyio.current_time())
    first = next(iter(fake.contacts))
    async with fake.client(clock=VirtualClock(), max_concurrency=50) as client:
        await client.contacts.get(first)
        fake.throttle(2.0)
        start = len(fake.request_times)
        got = [c.id async for c in client.contacts.get_many([first] * 200, concurrency=50)]
    assert [first] * 200 == got
    times = fake.request_times[start:]
    throttled_at = times[0]
    assert [] == [t for t in times[1:] if throttled_at < t < throttled_at + 2.0]
    assert 1 == fake.stats["throttled"]


@on_virtual_time()
async def test_sends_resume_at_the_rate_after_a_pause() -> None:
    """rate_limit=20, a 429 with Retry-After: 2 mid-job: no burst when the pause ends.

    Turns reserved before the pause are pushed back by it: every one-second
    window, the one after the pause included, holds at most 20 + the burst of
    2, and the job takes at least (requests / rate) + pause.
    """
    fake = FakeBSG(seed_contacts=10, clock=lambda: 1_700_000_000.0 + anyio.current_time())
    first = next(iter(fake.contacts))
    async with fake.client(clock=VirtualClock(), rate_limit=20, max_concurrency=16) as client:
        await client.contacts.get(first)
        start = len(fake.request_times)
        async with anyio.create_task_group() as group:
            group.start_soon(_throttle_after, fake, start + 30, 2.0)
            got = await client.contacts.get_many([first] * 120, concurrency=16).collect()
    assert 120 == len(got)
    times = fake.request_times[start:]
    throttled_at = times[30]
    after = [t for t in times if t > throttled_at]
    assert min(after) >= throttled_at + 2.0
    assert worst_window(times) <= 20 + 2
    assert sum(1 for t in after if t < min(after) + 0.1) <= 2 + 2  # the burst, not 19
    assert times[-1] - times[0] >= (121 - 2) / 20 + 2.0 - 0.05


async def _throttle_after(fake: FakeBSG, requests: int, retry_after: float) -> None:
    """Make request number ``requests`` answer 429 with Retry-After (on virtual time)."""
    while len(fake.request_times) < requests:  # noqa: ASYNC110 - the emulator has no event
        await anyio.sleep(0.001)
    fake.throttle(retry_after)


def worst_window(times: list[float]) -> int:
    """Most requests in any one-second window starting at a request."""
    return max(sum(1 for t in times if s <= t < s + 1.0) for s in times)


HOSTILE: list[tuple[str, httpx.Response, type[bsg_async.BSGError], str]] = [
    (
        "truncated JSON",
        httpx.Response(200, content=b'{"data": [{"id": 1, "pho'),
        bsg_async.DecodeError,
        "non-JSON body",
    ),
    (
        "HTML with 200",
        httpx.Response(200, html="<html>login page</html>"),
        bsg_async.DecodeError,
        "text/html",
    ),
    ("empty 200", httpx.Response(200), bsg_async.DecodeError, "answered an empty body"),
    (
        "phone as letters",
        httpx.Response(200, json={"data": [{"id": 1, "phone": "abc"}], "total": 1}),
        bsg_async.DecodeError,
        "$.data[0].phone",
    ),
    ("total missing", httpx.Response(200, json={"data": []}), bsg_async.DecodeError, "total"),
    (
        "data not a list",
        httpx.Response(200, json={"data": {"id": 1}, "total": 1}),
        bsg_async.DecodeError,
        "expected a list",
    ),
    (
        "70 MB body",
        httpx.Response(200, content=b" " * (70 * 1024 * 1024)),
        bsg_async.DecodeError,
        "larger than",
    ),
    (
        "50 MB of junk",
        httpx.Response(200, content=b"x" * (50 * 1024 * 1024)),
        bsg_async.DecodeError,
        "non-JSON body",
    ),
]


@pytest.mark.parametrize(
    ("label", "answer", "error", "message"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
async def test_hostile_answers_are_typed_errors(
    label: str,
    answer: httpx.Response,
    error: type[bsg_async.BSGError],
    message: str,
    fake_bsg_server: EmulatorServer,
) -> None:
    """Each hostile answer to a list call, sent over a socket, becomes the typed error."""
    served = fake_bsg_server
    served.fake.answer_next(answer.status_code, answer.content, dict(answer.headers))
    async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url) as client:
        with anyio.fail_after(20), pytest.raises(error) as info:
            await client.contacts.list().collect()
    assert message in str(info.value)
    assert (1, 1) == (served.fake.stats["canned"], served.fake.stats["route:contacts_list"])


async def test_page_larger_than_requested_is_a_correct_result() -> None:
    """A server that sends 30 rows for 15 asked: every row once, no overlap."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/login"):
            return httpx.Response(200, json={"bearer": "opaque"})
        offset = int(request.url.params["page[offset]"])
        rows = [{"id": i, "phone": 100_000_000 + i} for i in range(offset, min(offset + 30, 100))]
        return httpx.Response(200, json={"data": rows, "total": 100})

    async with bsg_async.Client(DEFAULT_KEY, transport=httpx.MockTransport(handler)) as client:
        ids = [c.id async for c in client.contacts.list(page_size=15)]
    assert list(range(100)) == ids


@pytest.fixture
async def drip_server() -> AsyncIterator[str]:
    """A loopback server that sends headers, then one byte every 0.1 s, forever."""

    async def drip(stream: anyio.abc.SocketStream) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
        )
        while True:
            await stream.send(b" ")
            await anyio.sleep(0.1)

    async with raw_server(drip) as base_url:
        yield f"{base_url}/api"


async def test_slow_drip_beyond_the_timeout_is_a_timeout(drip_server: str) -> None:
    """A body dripping a byte per 0.1 s never trips httpx's read timeout; the deadline does."""
    token = {"bearer": "opaque"}

    class LoginThenDrip(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._real = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/auth/login"):
                return httpx.Response(200, json=token)
            return await self._real.handle_async_request(request)

        async def aclose(self) -> None:
            await self._real.aclose()

    lent = LoginThenDrip()
    started = time.monotonic()
    async with bsg_async.Client(
        DEFAULT_KEY,
        base_url=drip_server,
        transport=lent,
        timeout=0.5,
        max_retries=1,
        retry_backoff=0.0,
    ) as client:
        with anyio.fail_after(10), pytest.raises(bsg_async.APITimeoutError) as info:
            await client.contacts.get(1)
    await lent.aclose()
    assert 1 == info.value.retries_taken
    assert "no complete answer within 0.5 s" in str(info.value)
    assert time.monotonic() - started < 5


async def test_secrets_stay_out_of_logs_errors_and_reprs(
    book: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Over a real socket at DEBUG (httpcore, bsg_async): no key, no token anywhere."""
    fake = book.fake
    key = "live_TOPSECRET_key_123"
    fake.api_keys.add(key)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    tokens: list[str] = []
    first = next(iter(fake.contacts))
    # httpcore, whose debug lines show headers; aiohttp logs none.
    async with bsg_async.Client(key, base_url=book.base_url, http_backend="httpx") as client:
        await client.contacts.get(first)
        tokens.append(client._core.stack.auth._token.reveal())  # type: ignore[union-attr]
        fake.advance(3601)  # the server expires it: 401, re-login, replay
        await client.contacts.get(first)
        tokens.append(client._core.stack.auth._token.reveal())  # type: ignore[union-attr]
        try:
            await client.contacts.get(1)
        except bsg_async.NotFoundError as exc:
            texts += [
                str(exc),
                repr(exc),
                "".join(traceback.format_exception(exc)),
                repr(exc.response.request.headers),
            ]
        texts += [repr(client), str(vars(client)), repr(client._core.stack.auth)]
    texts.append(caplog.text)
    assert f"GET /api/contacts/{first} -> 200" in caplog.text  # the SDK's own lines
    assert "<Request [b'POST']>" in caplog.text  # httpcore's lines of the logins too
    assert "send_request_headers" in caplog.text  # and httpcore's
    assert 2 == len(set(tokens))
    for text in texts:
        for secret in (key, *tokens):
            assert secret not in text
