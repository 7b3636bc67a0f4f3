"""httpx-aiohttp's transport, with its errors saying whether the request left.

httpx-aiohttp turns every ``aiohttp.ClientConnectionError`` into
``httpx.ConnectTimeout``: a server that closed the connection after reading
a request (``ServerDisconnectedError``), a reset mid-answer, and a refused
connection all read as "timed out while connecting", which the retry layer
takes as proof that nothing was sent, so a create could be sent twice. This
layer maps aiohttp's own exception (the ``__cause__``) again:

- could not connect (``ClientConnectorError``: refused, DNS, TLS, proxy) ->
  ``httpx.ConnectError``; connect timed out -> ``httpx.ConnectTimeout``:
  nothing was sent;
- anything else on the connection (disconnected, reset, a broken body) ->
  ``httpx.ReadError`` (``ReadTimeout`` for a read timeout): the request may
  have been received.

Errors while the body is read are always of the second kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["AiohttpOutcomes", "mapped"]

# aiohttp >= 3.10 tells a connect timeout from a read timeout.
_CONNECT_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    kind for kind in (getattr(aiohttp, "ConnectionTimeoutError", None),) if kind is not None
)


def mapped(exc: httpx.TransportError, request: httpx.Request, *, answered: bool) -> Exception:
    """The httpx error that says what ``exc`` (from httpx-aiohttp) means for ``request``.

    ``answered``: the answer's head had arrived (the error came while reading the body).
    """
    cause = exc.__cause__
    message = str(exc) or type(cause).__name__
    if not answered:
        if isinstance(cause, aiohttp.ClientConnectorError):
            return httpx.ConnectError(message, request=request)
        if isinstance(cause, _CONNECT_TIMEOUT):
            return httpx.ConnectTimeout(message, request=request)
    if isinstance(cause, aiohttp.ServerTimeoutError) or (
        isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout)
    ):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(cause, aiohttp.ClientError) or isinstance(exc, httpx.ConnectTimeout):
        return httpx.ReadError(message, request=request)
    return exc


class _Body(httpx.AsyncByteStream):
    """The answer's body; an error while reading it means the request was received."""

    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except httpx.TransportError as exc:
            raise mapped(exc, self._request, answered=True) from exc.__cause__

    async def aclose(self) -> None:
        await self._stream.aclose()


class AiohttpOutcomes(httpx.AsyncBaseTransport):
    """Sends through httpx-aiohttp's transport; maps its errors by whether the request left."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send; a failure says whether the request may have been received."""
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.TransportError as exc:
            raise mapped(exc, request, answered=False) from exc.__cause__
        stream = response.stream
        if isinstance(stream, httpx.AsyncByteStream):
            response.stream = _Body(stream, request)
        return response

    async def aclose(self) -> None:
        """Close the aiohttp session."""
        await self._transport.aclose()
