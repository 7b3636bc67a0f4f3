"""A fast loopback HTTP/1.1 server of pre-rendered answers, in its own process.

It answers login, pages of GET /api/contacts and GET /api/contacts/{id} from
bytes rendered at start, optionally after a fixed latency, so the client is
what gets measured. Run in a subprocess so it does not share the GIL.

    with FastServer(total=100_000, latency=0.0) as base_url: ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from benchmarks._common import LOGIN, render_page, render_single

if TYPE_CHECKING:
    from types import TracebackType


def _answer(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


class _Protocol(asyncio.Protocol):
    def __init__(self, answers: dict[str, bytes], total: int, latency: float) -> None:
        self.answers = answers
        self.total = total
        self.latency = latency
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            target = head.split(b" ", 2)[1].decode()
            reply = self.route(target)
            if self.latency:
                asyncio.get_running_loop().call_later(self.latency, self.transport.write, reply)
            else:
                self.transport.write(reply)  # type: ignore[attr-defined]

    def route(self, target: str) -> bytes:
        parts = urlsplit(target)
        if parts.path.endswith("/auth/login"):
            return self.answers["login"]
        if parts.path.endswith("/contacts"):
            query = parse_qs(parts.query)
            offset = int(query.get("page[offset]", ["0"])[0])
            key = f"page:{offset}"
            if key not in self.answers:
                self.answers[key] = _answer(render_page(offset, 500, self.total))
            return self.answers[key]
        return self.answers["single"]


async def _serve(port: int, total: int, latency: float) -> None:
    answers = {"login": _answer(LOGIN), "single": _answer(render_single(1))}
    for offset in range(0, total, 500):
        answers[f"page:{offset}"] = _answer(render_page(offset, 500, total))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Protocol(answers, total, latency), "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


class FastServer:
    """Start the server in a subprocess on a free loopback port."""

    def __init__(self, *, total: int, latency: float = 0.0) -> None:
        self.total = total
        self.latency = latency
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks._server",
                "--total",
                str(self.total),
                "--latency",
                str(self.latency),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._process.stdout is not None
        port = int(self._process.stdout.readline())
        return f"http://127.0.0.1:{port}/api"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.total, args.latency))
