"""The emulator as an in-process httpx transport: no sockets, same behaviour."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx

if TYPE_CHECKING:
    from bsg_async.testing._emulator import FakeBSG

__all__ = ["EmulatorTransport"]


class EmulatorTransport(httpx.AsyncBaseTransport):
    """Answer requests from a ``FakeBSG`` directly.

    Delays are real (``anyio.sleep``); an answer slower than the request's
    read timeout raises ``httpx.ReadTimeout`` as a socket would, and a dropped
    connection raises ``httpx.RemoteProtocolError``.
    """

    def __init__(self, fake: FakeBSG) -> None:
        self._fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Hand the request to the emulator and deliver its reply."""
        body = await request.aread()
        headers = {name.lower(): value for name, value in request.headers.multi_items()}
        reply = self._fake.handle(
            request.method, request.url.path, request.url.query.decode(), headers, body
        )
        if reply.deferred is not None:
            reply = await reply.deferred.wait()
        if reply.delay:
            read_timeout = request.extensions.get("timeout", {}).get("read")
            if read_timeout is not None and reply.delay > read_timeout:
                await anyio.sleep(read_timeout)
                raise httpx.ReadTimeout("emulated slow answer", request=request)
            await anyio.sleep(reply.delay)
        if reply.action == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)
