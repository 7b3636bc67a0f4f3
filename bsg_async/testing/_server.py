"""Serve the emulator on a loopback socket with uvicorn, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

from bsg_async.testing._asgi import make_asgi_app

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from bsg_async.testing._emulator import FakeBSG

__all__ = ["EmulatorServer"]

_START_TIMEOUT = 15.0


class EmulatorServer:
    """A real HTTP server for a ``FakeBSG`` on 127.0.0.1.

    Use it as a context manager (``with EmulatorServer(fake) as server:``);
    it picks a free port unless given one and stops when the block ends.

    Args:
        fake: The emulator to serve.
        host: Interface to listen on (loopback unless you mean otherwise).
        port: Port to listen on (0: a free one).
        log_level: uvicorn's log level.
    """

    def __init__(
        self,
        fake: FakeBSG,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "critical",
    ) -> None:
        self.fake = fake
        self.host = host
        self.port: int = port
        self._log_level = log_level
        self._thread: threading.Thread | None = None
        self._server: object | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """The API root to give ``Client(base_url=...)``."""
        return f"http://{self.host}:{self.port}/api"

    @property
    def open_connections(self) -> int:
        """Client connections the server holds open now (0 when stopped).

        A test can check with it that code under test closed what it opened;
        the server notices a close on its own thread, so poll with a deadline.
        """
        state = getattr(self._server, "server_state", None)
        return 0 if state is None else len(state.connections)

    def start(self) -> Self:
        """Bind, start serving in a daemon thread, and wait until it accepts."""
        import uvicorn  # noqa: PLC0415 - optional dependency, loaded on use

        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets
        # only when the listening socket says so (otherwise ~40 ms per answer).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            make_asgi_app(self.fake),
            log_level=self._log_level,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            # Stop at once even when a handler is sleeping (slow-answer faults).
            timeout_graceful_shutdown=1,
            # Room for long query strings (5,000 ids to bulk delete is ~140 KB).
            h11_max_incomplete_event_size=1024 * 1024,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="bsg-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None:
            self._server.should_exit = True  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._server = None
        self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
