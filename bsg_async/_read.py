"""The innermost layer: read each answer whole, within a size cap and a deadline.

httpx's read timeout bounds the wait for each chunk, so a server that drips
one byte at a time never trips it. This layer bounds the whole exchange
(sending, waiting, reading) by ``deadline`` seconds (a request may carry its
own, ``Call.exchange_timeout`` on its call record) and raises ``httpx.ReadTimeout``
past it, which the retry layer treats like any timeout.
A body larger than ``max_bytes`` is abandoned with ``ResponseTooLargeError``
instead of filling memory. The cap holds for the decoded body too: a gzip or
deflate body is decompressed here, as it arrives, never past the cap (a
small compressed answer can expand a thousandfold).
"""

from __future__ import annotations

import contextlib
import zlib
from typing import TYPE_CHECKING

import anyio
import httpx

from bsg_async._call import BodyError, ResponseTooLargeError, call_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["ReadTransport", "RequestBody"]

# Most bytes one decompression step produces.
_SLICE = 1024 * 1024
# Content encodings decoded here (anything else was not asked for).
_INFLATE_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 0}


class _Inflate:
    """A gzip or deflate decoder that never produces more than ``limit`` bytes in all."""

    def __init__(self, encoding: str, request: httpx.Request, limit: int) -> None:
        self._encoding = encoding
        self._request = request
        self._limit = limit
        self._left = limit
        self._zlib = zlib.decompressobj(_INFLATE_WBITS[encoding] or zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes) -> bytes:
        """Decompress a chunk, a slice of output at a time; raise past the limit."""
        out: list[bytes] = []
        while data:
            piece = self._step(data)
            data = self._zlib.unconsumed_tail
            self._left -= len(piece)
            if self._left < 0:
                raise ResponseTooLargeError(self._request, self._limit, decoded=True)
            out.append(piece)
        return b"".join(out)

    def _step(self, data: bytes) -> bytes:
        """At most ``_SLICE`` bytes of output (a bomb never gets to allocate more at once)."""
        try:
            piece = self._zlib.decompress(data, _SLICE)
        except zlib.error:
            if self._encoding != "deflate" or self._started:
                raise self._broken() from None
            # "deflate" is sent raw by some servers, without the zlib header.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                piece = self._zlib.decompress(data, _SLICE)
            except zlib.error:
                raise self._broken() from None
        self._started = True
        return piece

    def flush(self) -> bytes:
        """What is left once the body ended."""
        out = self._zlib.flush()
        if len(out) > self._left:
            raise ResponseTooLargeError(self._request, self._limit, decoded=True)
        return out

    def _broken(self) -> BodyError:
        request = self._request
        return BodyError(
            f"{request.method} {request.url.path}: the answer's {self._encoding} body could"
            " not be decompressed"
        )


def _decoders(response: httpx.Response, request: httpx.Request, limit: int) -> list[_Inflate]:
    """Decoders for the answer's Content-Encoding, in the order to apply them."""
    encodings = [
        value.strip().lower()
        for value in response.headers.get("content-encoding", "").split(",")
        if value.strip() and value.strip().lower() != "identity"
    ]
    for encoding in encodings:
        if encoding not in _INFLATE_WBITS:
            raise BodyError(
                f"{request.method} {request.url.path}: the answer is encoded as {encoding!r},"
                " which was not asked for (Accept-Encoding: gzip, deflate)"
            )
    return [_Inflate(encoding, request, limit) for encoding in reversed(encodings)]


class ReadTransport(httpx.AsyncBaseTransport):
    """Return answers whose body is already read.

    Args:
        transport: The transport to send through.
        deadline: Seconds allowed for one whole exchange (None: no bound).
        max_bytes: Largest body accepted.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        deadline: float | None,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._transport = transport
        self.deadline = deadline
        self.max_bytes = max_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send, then read the body, all within the deadline and size cap."""
        call = call_of(request)
        deadline = call.exchange_timeout if call.exchange_timeout_set else self.deadline
        if isinstance(request.stream, httpx.ByteStream):
            # httpx's body stream iterates through an async generator; a send
            # cut short (a lost connection, the deadline) leaves it suspended,
            # and trio reports it when collected. This one has no generator.
            request.stream = RequestBody(request.content)
        with anyio.move_on_after(deadline):
            return await self._exchange(request)
        # Reached only when the deadline cancelled the exchange.
        raise httpx.ReadTimeout(f"no complete answer within {deadline} s", request=request)

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):  # pragma: no cover - sync transport
            raise TypeError("bsg_async needs an async transport")
        if _declared_length(response) > self.max_bytes:
            # Said too large up front: refuse before reading a byte. (Abandoning
            # a body part-read leaves httpcore's inner async generators to the
            # garbage collector, which trio reports as a ResourceWarning.)
            await stream.aclose()
            raise ResponseTooLargeError(request, self.max_bytes)
        try:
            decoders = _decoders(response, request, self.max_bytes)
        except BodyError:
            await stream.aclose()
            raise
        # The raw stream, not aiter_raw(): a response a transport built in
        # memory is already "read" but its stream still replays.
        chunks = stream.__aiter__()
        try:
            parts: list[bytes] = []
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    await _abandon(stream, chunks)
                    raise ResponseTooLargeError(request, self.max_bytes)
                try:
                    parts.append(_decode(decoders, chunk))
                except BodyError:
                    await _abandon(stream, chunks)
                    raise
            if decoders:
                parts.append(_decode(decoders, b"", end=True))
        finally:
            # Close the iterator too: leaving an async generator to the
            # garbage collector is an error under trio.
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
            await stream.aclose()
        # The same response, its network stream swapped for the bytes read
        # (decoded already: httpx must not decode them again).
        body = b"".join(parts)
        if decoders:
            del response.headers["content-encoding"]
            response.headers["content-length"] = str(len(body))
        response.stream = httpx.ByteStream(body)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()


class RequestBody(httpx.AsyncByteStream):
    """A request body in memory, iterated without an async generator (any number of times)."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Once(self._content)


class _Once:
    """An async iterator of one chunk (none for an empty body)."""

    def __init__(self, content: bytes) -> None:
        self._content: bytes | None = content or None

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        if self._content is None:
            raise StopAsyncIteration
        content, self._content = self._content, None
        return content


def _decode(decoders: list[_Inflate], chunk: bytes, *, end: bool = False) -> bytes:
    """Run a chunk through each decoder in turn (at the end, flush each)."""
    for decoder in decoders:
        chunk = decoder.feed(chunk) if chunk else b""
        if end:
            chunk += decoder.flush()
    return chunk


# Chunks read (and dropped) after closing an abandoned body, at most.
_DRAIN_CHUNKS = 16


async def _abandon(stream: httpx.AsyncByteStream, chunks: AsyncIterator[bytes]) -> None:
    """Stop reading a body part-way, leaving no async generator to the garbage collector.

    Closing our iterator alone would leave httpcore's inner generators
    suspended (trio reports each as a ResourceWarning when collected).
    Closing the connection first makes the next read fail inside the
    innermost generator, so each of them ends by itself; what was already
    buffered is read and dropped, a few chunks at most.
    """
    await stream.aclose()
    with contextlib.suppress(Exception):  # the read on the closed connection, or the end
        for _ in range(_DRAIN_CHUNKS):
            await chunks.__anext__()


def _declared_length(response: httpx.Response) -> int:
    """The body size the headers announce (0 when they do not, or not readably)."""
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else 0
