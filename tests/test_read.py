"""ReadTransport alone: whole body read, size cap, deadline over the whole exchange."""

from __future__ import annotations

import gc
import gzip
import json
import warnings
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest

from bsg_async._call import ResponseTooLargeError
from bsg_async._read import ReadTransport
from tests.helpers import raw_server

pytestmark = pytest.mark.anyio


class Chunks(httpx.AsyncByteStream):
    """A body sent in chunks, with a pause between them; records whether it was closed."""

    def __init__(self, chunks: list[bytes], pause: float = 0.0) -> None:
        self.chunks = chunks
        self.pause = pause
        self.closed = False
        self.iterated = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.iterated = True
        for chunk in self.chunks:
            if self.pause:
                await anyio.sleep(self.pause)
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


class Serving(httpx.AsyncBaseTransport):
    def __init__(self, stream: Chunks, headers: dict[str, str] | None = None) -> None:
        self.stream = stream
        self.headers = headers or {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=self.stream, headers=self.headers)


async def test_body_is_read_and_stream_closed() -> None:
    """The answer comes back whole, and the network stream is closed."""
    stream = Chunks([b'{"data": ', b"[1, 2]}"])
    reader = ReadTransport(Serving(stream), deadline=5.0)
    async with httpx.AsyncClient(transport=reader) as http:
        answer = await http.get("http://test/")
    assert ({"data": [1, 2]}, True) == (answer.json(), stream.closed)


async def test_body_over_the_cap_is_abandoned() -> None:
    """A body beyond max_bytes raises ResponseTooLargeError and closes the stream."""
    stream = Chunks([b"x" * 600, b"x" * 600])
    reader = ReadTransport(Serving(stream), deadline=5.0, max_bytes=1000)
    with pytest.raises(ResponseTooLargeError, match="larger than 1000 bytes"):
        await reader.handle_async_request(httpx.Request("GET", "http://test/x"))
    assert stream.closed


async def test_body_announced_over_the_cap_is_not_read() -> None:
    """A Content-Length over max_bytes is refused before the first chunk is read."""
    stream = Chunks([b"x" * 1200])
    reader = ReadTransport(
        Serving(stream, headers={"content-length": "1200"}), deadline=5.0, max_bytes=1000
    )
    with pytest.raises(ResponseTooLargeError, match="larger than 1000 bytes"):
        await reader.handle_async_request(httpx.Request("GET", "http://test/x"))
    assert (False, True) == (stream.iterated, stream.closed)


@pytest.fixture
async def chunked_server() -> AsyncIterator[str]:
    """A loopback server answering 2 MB in 10 KB chunks, with no Content-Length."""

    async def chunked(stream: anyio.abc.SocketStream) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        for _ in range(200):
            await stream.send(b"2710\r\n" + b" " * 10_000 + b"\r\n")
        await stream.send(b"0\r\n\r\n")

    async with raw_server(chunked) as base_url:
        yield f"{base_url}/api/contacts"


async def test_chunked_body_over_the_cap_leaves_nothing_behind(chunked_server: str) -> None:
    """Over a socket, a body with no length stops at the cap; no generator is left to the GC.

    (Abandoned part-way, httpcore's inner async generators used to be
    collected unfinished, which trio reports as a ResourceWarning.)
    """
    reader = ReadTransport(httpx.AsyncHTTPTransport(), deadline=5.0, max_bytes=100_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ResponseTooLargeError, match="larger than 100000 bytes"):
            await reader.handle_async_request(httpx.Request("GET", chunked_server))
        gc.collect()
    await reader.aclose()
    assert [] == [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def test_deadline_covers_a_slow_drip() -> None:
    """Chunks arriving every 50 ms never trip a per-read timeout; the 0.2 s deadline does."""
    stream = Chunks([b" "] * 100, pause=0.05)
    reader = ReadTransport(Serving(stream), deadline=0.2)
    with anyio.fail_after(5), pytest.raises(httpx.ReadTimeout, match=r"within 0\.2 s"):
        await reader.handle_async_request(httpx.Request("GET", "http://test/x"))
    assert stream.closed


async def test_compressed_body_is_decoded_once() -> None:
    """Raw (gzip) bytes are kept raw; httpx decodes them for the caller as usual."""
    body = gzip.compress(b'{"ok": true}')
    reader = ReadTransport(
        Serving(Chunks([body]), headers={"content-encoding": "gzip"}), deadline=5.0
    )
    async with httpx.AsyncClient(transport=reader) as http:
        answer = await http.get("http://test/")
    assert {"ok": True} == answer.json()


class BreaksWhileSending(httpx.AsyncBaseTransport):
    """A connection lost after the first chunk of the request body went out."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async for _chunk in request.stream:  # type: ignore[union-attr]
            raise httpx.WriteError("connection lost while sending the body")
        raise AssertionError("the body had no chunk")  # pragma: no cover


async def test_a_send_cut_short_leaves_no_body_generator_behind() -> None:
    """A write error mid-body leaves no suspended async generator (trio warns when one is GC'd)."""
    reader = ReadTransport(BreaksWhileSending(), deadline=5.0)
    request = httpx.Request("POST", "http://127.0.0.1/api/contacts", json={"phone": 61401629754})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):  # the retry layer sends the same request again
            with pytest.raises(httpx.WriteError):
                await reader.handle_async_request(request)
        gc.collect()
        await anyio.lowlevel.checkpoint()
    assert [] == [str(w.message) for w in caught]
    # The body is whole on every attempt (httpx 0.27 writes JSON with spaces, 0.28 without).
    sent = b"".join([c async for c in request.stream])  # type: ignore[union-attr]
    assert {"phone": 61401629754} == json.loads(sent)
