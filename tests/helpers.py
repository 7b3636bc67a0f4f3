"""Helpers shared by the tests: JWTs, a fake clock, API-shaped bodies."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import anyio.abc
import anyio.lowlevel
import respx

import bsg_async

BASE = "https://one-api.bsg.world/api"
KEY = "live_s3cr3t_KEY_0123456789"


def make_jwt(exp: float | None, subject: str = "acct") -> str:
    """An unsigned JWT whose payload carries ``exp`` (the SDK never verifies)."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims: dict[str, object] = {"sub": subject}
    if exp is not None:
        claims["exp"] = exp
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeClock(bsg_async.Clock):
    """Time that moves only when the code under test sleeps."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await anyio.lowlevel.checkpoint()

    def jitter(self) -> float:
        return 1.0


def contact_json(contact_id: int, **extra: object) -> dict[str, object]:
    """A contact as the API answers it (shape of the spec's 'single' example)."""
    body: dict[str, object] = {
        "id": contact_id,
        "phone": 380_000_000_000 + contact_id,
        "fields": [],
        "groups": [],
        "hlr_status": "unknown",
        "hlr_last_check": None,
        "created_at": "2025-03-10 13:53:05",
    }
    body.update(extra)
    return body


def as_json(body: object) -> bytes:
    """``body`` as the bytes of a JSON answer."""
    return json.dumps(body).encode()


@contextlib.asynccontextmanager
async def raw_server(
    answer: Callable[[anyio.abc.SocketStream], Awaitable[None]],
    *,
    read_request: bool = True,
) -> AsyncIterator[str]:
    """A loopback TCP server whose connections get hand-written bytes from ``answer``.

    For answers no real server framework would send. Yields the base URL;
    a client that hangs up mid-answer ends that connection quietly. The first
    bytes of the request are read (and dropped) before ``answer`` runs, unless
    ``read_request`` is False: ``answer`` then reads the requests itself.
    """

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            with contextlib.suppress(
                anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream
            ):
                if read_request:
                    await stream.receive()  # the request (its content does not matter)
                await answer(stream)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}"
        group.cancel_scope.cancel()


def bodies(route: respx.Route) -> list[Any]:
    """The JSON body of every request a route received."""
    return [json.loads(call.request.content) for call in route.calls]


def queries(route: respx.Route) -> list[list[tuple[str, str]]]:
    """The query parameters of every request a route received, in order."""
    return [list(call.request.url.params.multi_items()) for call in route.calls]


def query_of(route: respx.Route, index: int = -1) -> list[tuple[str, str]]:
    """The query parameters of one request a route received (the last by default)."""
    return queries(route)[index]


# The stop list page of the seed documentation: total as a string.
STOPLIST_SEED_PAGE: dict[str, Any] = {
    "data": [
        {
            "id": 9392897,
            "phone": 85267202829,
            "created_at": "2022-04-18 19:22:16",
            "sms_stoplist": True,
            "viber_stoplist": False,
        }
    ],
    "total": "1",
}


def mocked_client(**options: Any) -> bsg_async.Client:
    """A client whose requests respx sees: httpcore, never aiohttp (``http_backend="auto"``)."""
    options.setdefault("http_backend", "httpx")
    return bsg_async.Client(KEY, **options)


def backends_on(anyio_backend: str) -> list[Literal["httpx", "aiohttp"]]:
    """The HTTP backends a test can run on this event loop (aiohttp is asyncio only)."""
    return ["httpx", "aiohttp"] if anyio_backend == "asyncio" else ["httpx"]
