"""What a user can see of each call: hooks per attempt, attempt spans, debug lines, raw answers.

``AttemptLayer`` sits between the auth and read layers, so it sees every
HTTP exchange the SDK makes: each retry, each replay after a 401, and the
logins and refreshes (which run hooks never: their bodies carry the key or
a token). For each exchange it runs the request hooks, opens the attempt
span (when OpenTelemetry is installed), puts ``traceparent`` on the
request, logs it at debug level, sends it, and runs the response hooks on
the answer (whose body has been read by the layer below).

:class:`Answer` and :func:`capture` are the raw answers: inside
``with client.responses() as answers:`` every call made in that block (in
that task and the tasks it starts) appends what it was answered.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from bsg_async._call import call_of
from bsg_async._telemetry import url_template

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from bsg_async._telemetry import Telemetry

__all__ = ["Answer", "AttemptLayer", "capture", "capturing", "operation_of", "record_answer"]

logger = logging.getLogger("bsg_async")

# What each (method, path template) of the API is, in the SDK's names.
_OPERATIONS = {
    ("GET", "/contacts"): "contacts.list",
    ("GET", "/contacts/search"): "contacts.search",
    ("POST", "/contacts/search"): "contacts.search",
    ("GET", "/contacts/{id}"): "contacts.get",
    ("POST", "/contacts"): "contacts.create",
    ("PUT", "/contacts/{id}"): "contacts.update",
    ("DELETE", "/contacts/{id}"): "contacts.delete",
    ("POST", "/contacts/delete"): "contacts.delete_many",
    ("GET", "/contacts/fields"): "fields.list",
    ("POST", "/contacts/fields"): "fields.create",
    ("PATCH", "/contacts/fields/{id}"): "fields.update",
    ("POST", "/contacts/fields/delete"): "fields.delete",
    ("GET", "/groups"): "lists.list",
    ("GET", "/groups/search"): "lists.search",
    ("POST", "/groups/search"): "lists.search",
    ("GET", "/groups/{id}"): "lists.get",
    ("POST", "/groups"): "lists.create",
    ("PUT", "/groups/{id}"): "lists.update",
    ("DELETE", "/groups/{id}"): "lists.delete",
    ("POST", "/groups/attach"): "lists.attach",
    ("POST", "/groups/detach"): "lists.detach",
    ("GET", "/stoplist"): "stoplist.list",
    ("GET", "/stoplist/search"): "stoplist.search",
    ("POST", "/stoplist/search"): "stoplist.search",
    ("POST", "/stoplist/attach"): "stoplist.add",
    ("POST", "/stoplist/detach"): "stoplist.remove",
}


def operation_of(method: str, path: str) -> str:
    """The SDK's name of a request (``contacts.get``); ``GET /x/{id}`` for one it does not know."""
    template = url_template("/" + path.lstrip("/"))
    return _OPERATIONS.get((method, template)) or f"{method} {template}"


# Bodies in debug lines are cut to this many characters.
BODY_CUT = 500


@attrs.frozen(kw_only=True)
class Answer:
    """The answer a call ended with, beside its result (``client.responses()``).

    Attributes:
        operation: What the call was (``contacts.get``).
        status_code: The final answer's HTTP status.
        headers: Its headers.
        elapsed: Seconds the whole call took (waits, attempts, backoff).
        retries_taken: Retries, 401 replays included.
        attempts: HTTP exchanges sent for it.
        http_response: The ``httpx.Response`` itself (its body is read).
    """

    operation: str
    status_code: int
    headers: httpx.Headers
    elapsed: float
    retries_taken: int
    attempts: int
    http_response: httpx.Response = attrs.field(repr=False)

    def json(self) -> Any:  # noqa: ANN401 - the API's JSON, as sent
        """The answer's body as JSON."""
        return self.http_response.json()


_CAPTURE: contextvars.ContextVar[list[Answer] | None] = contextvars.ContextVar(
    "bsg_async_answers", default=None
)


@contextlib.contextmanager
def capture() -> Iterator[list[Answer]]:
    """Collect the answers of the calls made inside the block (this task and its children)."""
    answers: list[Answer] = []
    token = _CAPTURE.set(answers)
    try:
        yield answers
    finally:
        _CAPTURE.reset(token)


def capturing() -> bool:
    """Whether a ``capture()`` block is open in this task."""
    return _CAPTURE.get() is not None


def record_answer(response: httpx.Response, elapsed: float) -> None:
    """Keep ``response`` when a ``capture()`` block is open."""
    answers = _CAPTURE.get()
    if answers is None:
        return
    call = call_of(response.request)
    answers.append(
        Answer(
            operation=call.operation,
            status_code=response.status_code,
            headers=response.headers,
            elapsed=elapsed,
            retries_taken=call.retries_taken,
            attempts=call.attempts,
            http_response=response,
        )
    )


def _cut(content: bytes) -> str:
    text = content.decode("utf-8", "replace")
    return text if len(text) <= BODY_CUT else f"{text[:BODY_CUT]}... ({len(text)} characters)"


async def _run(hooks: Sequence[Callable[..., Any]], argument: object) -> None:
    for hook in hooks:
        result = hook(argument)
        if inspect.isawaitable(result):
            await result


class AttemptLayer(httpx.AsyncBaseTransport):
    """Runs the user's hooks and the attempt span around every HTTP exchange."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        hooks: Mapping[str, Sequence[Callable[..., Any]]],
        telemetry: Telemetry | None,
    ) -> None:
        self._transport = transport
        self._on_request = list(hooks.get("request", ()))
        self._on_response = list(hooks.get("response", ()))
        self._telemetry = telemetry

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one attempt, with hooks, span and debug lines around it."""
        call = call_of(request)
        call.attempts += 1
        user = not call.login  # logins and refreshes carry secrets: no hooks, no bodies
        if user and self._on_request:
            await _run(self._on_request, request)
        telemetry = self._telemetry
        if telemetry is None or not telemetry.active():
            response = await self._send(request, user=user)
        else:
            with telemetry.attempt(request, call.attempts) as span:
                telemetry.inject(request)
                telemetry.in_flight.add(1)
                try:
                    response = await self._send(request, user=user)
                except BaseException as exc:
                    telemetry.end_attempt(span, call, None, exc)
                    raise
                finally:
                    telemetry.in_flight.add(-1)
                telemetry.end_attempt(span, call, response, None)
        if user and self._on_response:
            # What httpx's own send does: the answer knows its request (the
            # innermost transports leave it unset).
            response.request = request
            await response.aread()  # the body the layer below read: no I/O
            await _run(self._on_response, response)
        return response

    async def _send(self, request: httpx.Request, *, user: bool) -> httpx.Response:
        debug = logger.isEnabledFor(logging.DEBUG)
        if debug:
            body = _cut(request.content) if user and request.content else ""
            logger.debug("request: %s %s %s", request.method, request.url, body)
        response = await self._transport.handle_async_request(request)
        if debug:
            await response.aread()
            body = _cut(response.content) if user else "(login answer not shown)"
            logger.debug(
                "answer: %d to %s %s: %s",
                response.status_code,
                request.method,
                request.url.path,
                body,
            )
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()
