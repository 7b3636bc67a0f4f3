"""Hostile answers over loopback: bombs, deep JSON, endless pages, redirects, and secrets.

A raw server of our own answers what a broken proxy or a malicious host
could; every case must end with a typed error, in bounded time and memory,
with nothing sent anywhere else and no secret reachable from the error.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import sys
import textwrap
import traceback
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
import httpx
import pytest

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG, Faults

pytestmark = pytest.mark.anyio

TOKEN = "hostile.header.signature"
CAP = 64 * 1024 * 1024


def gzip_bomb() -> bytes:
    """About 1 MB of gzip that expands to 1 GiB of zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(1024)), packer.flush()])


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb()


Answer = Callable[[str, str, dict[str, list[str]]], tuple[int, dict[str, str], bytes]]


@contextlib.asynccontextmanager
async def http_server(answer: Answer) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback HTTP/1.1 server of our own: one request per connection, answered by ``answer``.

    ``answer(method, path, query)`` gives (status, headers, body). Yields the
    base URL (ending in /api) and the list of request lines it received.
    """
    seen: list[str] = []

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while b"\r\n\r\n" not in data:
                    data += await stream.receive()
                head, _, rest = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (x.partition(": ") for x in lines[1:])
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                while len(rest) < length:
                    rest += await stream.receive()
                method, target, _ = lines[0].split(" ", 2)
                seen.append(f"{method} {target}")
                parts = urlsplit(target)
                status, headers, body = answer(method, parts.path, parse_qs(parts.query))
                headers = {"content-length": str(len(body)), "connection": "close", **headers}
                header_lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                await stream.send(f"HTTP/1.1 {status} X\r\n{header_lines}\r\n".encode() + body)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}/api", seen
        group.cancel_scope.cancel()


def login_then(answer: Answer) -> Answer:
    """Answer logins with a token, everything else with ``answer``."""

    def both(
        method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes]:
        if path.endswith("/auth/login"):
            return 200, {"content-type": "application/json"}, json.dumps({"bearer": TOKEN}).encode()
        return answer(method, path, query)

    return both


def client_for(base_url: str, **options: Any) -> bsg_async.Client:
    options.setdefault("max_retries", 0)
    return bsg_async.Client(DEFAULT_KEY, base_url=base_url, trust_env=False, **options)


# ------------------------------------------------------------------ bombs


BOMB_CLIENT = textwrap.dedent(
    """
    import resource, sys, time
    import anyio, bsg_async

    async def main():
        async with bsg_async.Client("test_k", base_url=sys.argv[1], max_retries=0) as client:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.monotonic()
            try:
                await client.contacts.get(7)
            except bsg_async.BSGError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            else:
                outcome = "no error"
            took = time.monotonic() - start
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            print(f"{took:.2f}|{grown // 1024}|{outcome}")

    anyio.run(main, backend=sys.argv[2])
    """
)


async def test_a_gzip_bomb_stops_at_the_cap_in_bounded_memory(
    bomb: bytes, anyio_backend: str
) -> None:
    """1 MB of gzip expanding to 1 GiB: DecodeError naming the cap; RSS grows < 2x the cap."""

    def answer(
        method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json", "content-encoding": "gzip"}, bomb

    async with http_server(login_then(answer)) as (base_url, _):
        done = await anyio.run_process(
            [sys.executable, "-c", BOMB_CLIENT, base_url, anyio_backend], check=True
        )
    took, grown_mib, outcome = done.stdout.decode().strip().split("|", 2)
    assert outcome == (
        "DecodeError: GET /api/contacts/7: answer decompressing to more than"
        f" {CAP} bytes, abandoned"
    )
    assert int(grown_mib) < 2 * CAP // (1024 * 1024)
    assert float(took) < 30


async def test_a_body_that_is_not_the_gzip_it_claims_is_a_decode_error() -> None:
    """Content-Encoding: gzip over bytes that are not gzip: a typed error, not httpx's."""

    def answer(
        method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json", "content-encoding": "gzip"}, b"{}"

    async with http_server(login_then(answer)) as (base_url, _), client_for(base_url) as client:
        with pytest.raises(bsg_async.DecodeError, match="gzip body could not be decompressed"):
            await client.contacts.get(7)


async def test_a_small_gzip_answer_is_read(anyio_backend: str) -> None:
    """An honest gzip answer (a proxy compressing JSON) decodes as before."""
    contact = {"id": 7, "phone": 61401629754, "fields": [], "groups": []}
    packed = gzip.compress(json.dumps({"data": contact}).encode())

    def answer(
        method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json", "content-encoding": "gzip"}, packed

    backends = ["httpx", "aiohttp"] if anyio_backend == "asyncio" else ["httpx"]
    async with http_server(login_then(answer)) as (base_url, _):
        for backend in backends:  # aiohttp is asked not to decompress: decoded once, here
            async with client_for(base_url, http_backend=backend) as client:
                assert 61401629754 == (await client.contacts.get(7)).phone


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=3).serve() as running:
        yield running


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (200, b'{"data": ' + DEEP + b"}", bsg_async.DecodeError, "nested too deeply to read"),
        (
            422,
            b'{"message": "x", "errors": ' + DEEP + b"}",
            bsg_async.UnprocessableEntityError,
            "an error body of JSON nested too deeply to read (200028 bytes)",
        ),
    ],
    ids=["200", "422"],
)
async def test_json_nested_100000_deep_is_a_decode_error(
    served: EmulatorServer, status: int, body: bytes, error: type[Exception], message: str
) -> None:
    """Deep JSON on a get, on an error body and on a list page: typed, never RecursionError."""
    fake = served.fake
    first = min(fake.contacts)
    async with client_for(served.base_url) as client:
        await client.contacts.get(first)
        fake.answer_next(status, body, {"content-type": "application/json"})
        with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
            await client.contacts.get(first)
        fake.answer_next(200, b'{"total": 1, "data": ' + DEEP + b"}")
        with pytest.raises(bsg_async.DecodeError, match="nested too deeply"):
            await client.contacts.list().collect()


# ------------------------------------------------------------------ paging


def pages(total: Callable[[int], int], ids: Callable[[int, int], list[int]]) -> Answer:
    """List answers: ``total(offset)`` and the ids ``ids(offset, limit)``."""

    def answer(
        method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes]:
        offset = int(query["page[offset]"][0])
        limit = int(query["page[limit]"][0])
        rows = [
            {"id": i, "phone": 61400000000 + i, "fields": [], "groups": []}
            for i in ids(offset, limit)
        ]
        body = json.dumps({"data": rows, "total": total(offset)}).encode()
        return 200, {"content-type": "application/json"}, body

    return login_then(answer)


@pytest.mark.parametrize(
    ("answer", "message", "stopped_at"),
    [
        (
            pages(lambda _: 10**18, lambda o, n: list(range(o + 1, o + n + 1))),
            "the server says there are 1,000,000,000,000,000,000 rows, more than 100,000,000",
            0,
        ),
        (
            pages(lambda o: 1000 + 2 * o, lambda o, n: list(range(o + 1, o + n + 1))),
            "the total grew from 1,000 to 13,000 while paging",
            6000,
        ),
        (
            pages(lambda _: 10**6, lambda _o, n: list(range(1, n + 1))),
            "the page at offset 500 holds only rows already received (ids 1..500)",
            500,
        ),
    ],
    ids=["total 10**18", "growing total", "repeated pages"],
)
async def test_paging_against_a_server_that_never_ends_ends(
    answer: Answer, message: str, stopped_at: int
) -> None:
    """Each ends with PagingError at an offset, having handed out what came before; fast."""
    async with http_server(answer) as (base_url, seen), client_for(base_url) as client:
        received = 0
        with anyio.fail_after(20), pytest.raises(bsg_async.PagingError) as info:
            async for _ in client.contacts.list(page_size=500):
                received += 1
        with anyio.fail_after(20), pytest.raises(bsg_async.PagingError):
            async with client.contacts.list(page_size=500, prefetch=4).stream() as stream:
                async for _ in stream:
                    pass
    assert message in str(info.value)
    assert (stopped_at, stopped_at) == (info.value.offset, received)
    assert len(seen) < 100


# ------------------------------------------------------------------ redirects


async def test_a_redirected_login_never_carries_the_key_elsewhere() -> None:
    """A lent client with follow_redirects=True: a 307 at login goes nowhere; typed error."""

    def thief(
        method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json"}, json.dumps({"bearer": TOKEN}).encode()

    async with http_server(thief) as (elsewhere, stolen):

        def redirect(
            method: str, path: str, query: dict[str, list[str]]
        ) -> tuple[int, dict[str, str], bytes]:
            return 307, {"location": f"{elsewhere}/collect"}, b""

        async with http_server(redirect) as (base_url, _):
            lent = httpx.AsyncClient(follow_redirects=True, trust_env=False)
            async with lent, client_for(base_url, http_client=lent) as client:
                with pytest.raises(bsg_async.AuthenticationError, match="was redirected") as info:
                    await client.contacts.get(7)
    assert [] == stolen
    assert DEFAULT_KEY not in str(info.value)


# ------------------------------------------------------------------ secrets


def reachable_text(error: BaseException) -> str:
    """Every string an error lets a program or a log reach: messages, reprs, requests, frames.

    Frames are walked local by local (what ``capture_locals`` would print),
    the test's own frames aside.
    """
    texts: list[str] = []
    seen: set[int] = set()

    def request_text(request: object) -> None:
        if isinstance(request, httpx.Request):
            texts.append(repr(request))
            texts.append(repr(request.headers.multi_items()))
            with contextlib.suppress(httpx.RequestNotRead):
                texts.append(request.content.decode("utf-8", "replace"))

    def walk(exc: BaseException | None) -> None:
        if exc is None or id(exc) in seen:
            return
        seen.add(id(exc))
        texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])
        texts.append(
            "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
        )
        for value in vars(exc).values():
            texts.append(repr(value))
            request_text(value)
            if isinstance(value, httpx.Response):
                request_text(value.request)
                texts.append(repr(value.headers.multi_items()))
        frame = exc.__traceback__
        while frame is not None:
            # The SDK's frames and the libraries' (a test's own frames hold
            # what the test itself passed in).
            if "/tests/" not in frame.tb_frame.f_code.co_filename:
                for value in frame.tb_frame.f_locals.values():
                    texts.append(repr(value))
                    request_text(value)
            frame = frame.tb_next
        walk(exc.__cause__)
        walk(exc.__context__)

    walk(error)
    return "\n".join(texts)


async def errors_of_every_kind(served: EmulatorServer) -> tuple[list[BaseException], str]:
    """A battery of errors from a client that had a token; and that token."""
    fake = served.fake
    first = min(fake.contacts)
    errors: list[BaseException] = []

    async def caught(call: Any) -> None:
        try:
            await call
        except bsg_async.BSGError as exc:
            errors.append(exc)

    async with client_for(served.base_url, timeout=0.5, max_retry_after=0.1) as client:
        await client.contacts.get(first)
        token = client._core.stack.auth._token.reveal()  # type: ignore[union-attr]
        await caught(client.contacts.get(10**12))  # NotFoundError
        existing = fake.contacts[first]["phone"]
        fake.advance(2.0)
        await caught(client.contacts.create(phone=existing))  # UnprocessableEntityError
        fake.throttle(500.0)
        await caught(client.contacts.get(first))  # RateLimitError, past max_retry_after
        fake.answer_next(500, b'{"message": "Server Error"}')
        await caught(client.contacts.get(first))  # ServerError
        fake.answer_next(200, b"<html>")
        await caught(client.contacts.get(first))  # DecodeError
        fake.faults = Faults(slow=1.0, slow_seconds=2.0)
        await caught(client.contacts.get(first))  # APITimeoutError
        fake.faults = Faults(drop=1.0)
        await caught(client.contacts.create(phone=61401629799, recover=False))  # connection
        fake.faults = Faults()
        fake.revoke(token)
        fake.api_keys.clear()
        await caught(client.contacts.get(first))  # AuthenticationError at the re-login
        fake.api_keys.add(DEFAULT_KEY)
        await caught(client.contacts.get_many([first, 10**12]).collect())  # BulkError
    await caught(client.contacts.get(first))  # closed client
    fake.faults = Faults(error_500=1.0, include_auth=True)
    async with client_for(served.base_url) as fresh:
        await caught(fresh.contacts.get(first))  # the login itself answers 500
    fake.faults = Faults()
    async with bsg_async.Client(
        "live_wrong_SECRET_key", base_url=served.base_url, max_retries=0
    ) as rejected:
        await caught(rejected.contacts.get(first))  # the key rejected at login
    return errors, token


async def test_no_secret_is_reachable_from_any_error(served: EmulatorServer) -> None:
    """Nine kinds of error, walked through attributes, requests, causes and frame locals."""
    errors, token = await errors_of_every_kind(served)
    kinds = {type(e).__name__ for e in errors}
    assert {
        "NotFoundError",
        "UnprocessableEntityError",
        "RateLimitError",
        "ServerError",
        "DecodeError",
        "APITimeoutError",
        "APIConnectionError",
        "AuthenticationError",
        "BulkError",
    } <= kinds
    for error in errors:
        text = reachable_text(error)
        assert DEFAULT_KEY not in text, type(error).__name__
        assert "live_wrong_SECRET_key" not in text, type(error).__name__
        assert token not in text, type(error).__name__
