"""The emulator as an ASGI application, for serving on a real socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from bsg_async.testing._emulator import FakeBSG

__all__ = ["make_asgi_app"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _DroppedConnectionError(Exception):
    """Raised after the headers went out, so the server aborts the connection."""


def make_asgi_app(fake: FakeBSG) -> ASGIApp:
    """An ASGI app answering every request from ``fake``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        reply = fake.handle(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            b"".join(chunks),
        )
        if reply.deferred is not None:
            reply = await reply.deferred.wait()
        if reply.delay:
            await anyio.sleep(reply.delay)
        if reply.action == "drop":
            # Promise a body and never send it: the client sees the
            # connection close mid-answer.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"4096")],
                }
            )
            raise _DroppedConnectionError
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (name.encode("latin-1"), value.encode("latin-1"))
                    for name, value in reply.headers.items()
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})

    return app
