"""Answers and failures turned into the SDK's errors, with messages that say what to do.

The one place where an HTTP answer, a transport failure or an exhausted
budget becomes a ``BSGError``: the client's edge (``Client._request``)
calls these and nothing else decides an error's class or its wording.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

import httpx

from bsg_async import _converter
from bsg_async._call import call_of
from bsg_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    DecodeError,
    RateLimitError,
    describe_body,
    error_class_for,
)
from bsg_async._retry import causes, is_tls_mismatch

if TYPE_CHECKING:
    from collections.abc import Callable

    from bsg_async._call import WaitTooLongError

__all__ = [
    "DEFAULT_BASE_URL",
    "connection_error",
    "out_of_time",
    "parse_answer",
    "redirect_message",
    "status_error",
    "wait_error",
]

T = TypeVar("T")

DEFAULT_BASE_URL = "https://one-api.bsg.world/api"


def out_of_time(request: httpx.Request, budget: float | None) -> APITimeoutError:
    call = call_of(request)
    retries = call.retries_taken
    applied = call.may_have_been_applied or (call.idempotent is False and call.sent is True)
    message = (
        f"{request.method} {request.url.path} did not complete within its"
        f" total_timeout of {budget:g} s"
    ) + _outcome(retries, applied)
    return APITimeoutError(
        message, request=request, retries_taken=retries, may_have_been_applied=applied
    )


def wait_error(
    exc: WaitTooLongError, request: httpx.Request
) -> APIConnectionError | RateLimitError:
    retries = call_of(request).retries_taken
    if not exc.paused:
        return APITimeoutError(
            f"{request.method} {request.url.path}: {exc}",
            request=request,
            retries_taken=retries,
        )
    # Another request's 429/503 paused the client: report it as this call's
    # own rate-limit answer, with the time still to wait.
    seconds = max(1, math.ceil(exc.wait))
    response = httpx.Response(429, headers={"retry-after": str(seconds)}, request=request)
    return RateLimitError(f"not sent: {exc}", response=response, retries_taken=retries)


def connection_error(
    cls: type[APIConnectionError], exc: httpx.TransportError, request: httpx.Request
) -> APIConnectionError:
    call = call_of(request)
    retries = call.retries_taken
    applied = call.may_have_been_applied
    what = "timed out" if cls is APITimeoutError else "failed"
    url = request.url
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    message = f"{request.method} {url.path} to {url.host}:{port} {what}: {type(exc).__name__}"
    detail = str(exc)
    if detail:
        message += f" ({detail})"
    message += _outcome(retries, applied)
    hint = _connection_hint(exc, url.scheme, f"{url.host}:{port}")
    if hint:
        message += f"; {hint}"
    return cls(message, request=request, retries_taken=retries, may_have_been_applied=applied)


def _connection_hint(exc: httpx.TransportError, scheme: str, where: str) -> str:
    """What a connection failure most likely means, for the message."""
    if is_tls_mismatch(exc):
        return (
            f"the server at {where} does not speak TLS (plain http?): check the base URL's scheme"
        )
    if isinstance(exc, httpx.ConnectError) and _refused(exc):
        return f"is the server running at {where}? check base_url ({scheme}://{where})"
    return ""


# How the transports say that nothing listened (asyncio's anyio, trio's).
_REFUSED = ("refused", "all connection attempts failed", "all attempts to connect")


def _refused(exc: BaseException) -> bool:
    """Whether nothing listened where the connection went (refused, every address tried)."""
    return any(
        isinstance(cause, ConnectionRefusedError) or any(m in str(cause).lower() for m in _REFUSED)
        for cause in causes(exc)
    )


def _outcome(retries: int, applied: bool) -> str:
    """The end of an error message: retries made, and whether to check before resending."""
    text = f" after {retries} retries" if retries else ""
    if applied:
        text += "; the request may have been applied, check before sending it again"
    return text


def _json_body(response: httpx.Response) -> object:
    return _converter.loads(response.content)


def status_error(
    response: httpx.Response, *, login: bool = False, served: httpx.Request | None = None
) -> APIStatusError:
    """The typed error for an error answer (``served``: the request a login served)."""
    call = call_of(served or response.request)
    message, errors = _error_details(response)
    cls = error_class_for(response.status_code, message)
    if login:
        cls, message = _login_failure(response, cls, message)
    if call.duplicate:
        message = (
            f"{message}: refused as a duplicate of an identical request the API received"
            " within the last second, so it was not sent again"
        )
    elif call.retry_after_refused is not None:
        message = (
            f"{message}: the server asked to wait {response.headers.get('retry-after')} s,"
            f" more than max_retry_after={call.retry_after_refused:g} s: not waited"
        )
    elif call.out_of_budget:
        message = (
            f"{message}: the server asked to wait {response.headers.get('retry-after')} s,"
            " longer than this call's total_timeout leaves"
        )
    error = cls(
        message,
        response=response,
        errors=errors,
        retries_taken=call.retries_taken,
        may_have_been_applied=call.may_have_been_applied,
    )
    if isinstance(error, RateLimitError):
        error.duplicate = call.duplicate
    return error


# Answers at login that mean the address is not the API's root.
_NOT_THE_API = frozenset({404, 405})
_REJECTED_KEY = "invalid api key"


def _login_failure(
    response: httpx.Response, cls: type[APIStatusError], message: str
) -> tuple[type[APIStatusError], str]:
    """Say what a failed login means: a rejected key, a wrong base URL, or else."""
    status = response.status_code
    if _REJECTED_KEY in message.lower():
        return AuthenticationError, f"the API key was rejected at login: {message}"
    if 300 <= status < 400:  # noqa: PLR2004
        return AuthenticationError, redirect_message("the login", response)
    if status < 400:  # noqa: PLR2004
        return AuthenticationError, f"the login answered {status} without a token ({message})"
    url = response.request.url
    api_json = "json" in response.headers.get("content-type", "")
    if status in _NOT_THE_API or (status < 500 and not api_json):  # noqa: PLR2004
        root = str(url).removesuffix("auth/login")
        return cls, (
            f"the base URL looks wrong: logging in at {url} answered {status} ({message});"
            f" base_url should be the API's root, as in {DEFAULT_BASE_URL} (tried {root})"
        )
    if status in {401, 403}:
        return AuthenticationError, f"login refused: {message}"
    return cls, message


def redirect_message(what: str, response: httpx.Response) -> str:
    target = response.headers.get("location", "nowhere")
    return (
        f"{what} was redirected ({response.status_code} to {target[:200]}); the SDK never"
        " follows redirects (the key or token would go along): set base_url to the API's"
        " own root"
    )


def _error_details(response: httpx.Response) -> tuple[str, object]:
    """The API's ``message`` and ``errors``, or a description of a foreign body."""
    try:
        body = _json_body(response)
    except RecursionError:
        return (
            f"an error body of JSON nested too deeply to read ({len(response.content)} bytes)",
            None,
        )
    except _converter.JSON_ERRORS:
        return describe_body(response), None
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message, body.get("errors")
    return f"{response.reason_phrase or 'error'} ({describe_body(response)})", None


def parse_answer(response: httpx.Response, parse: Callable[[bytes], T]) -> T:
    retries = call_of(response.request).retries_taken
    where = f"{response.request.method} {response.request.url.path}"
    try:
        return parse(response.content)
    except RecursionError:
        raise DecodeError(
            f"{where} -> {response.status_code} answered JSON nested too deeply to read"
            f" ({len(response.content)} bytes)",
            response=response,
            retries_taken=retries,
        ) from None
    except _converter.JSON_ERRORS:
        raise DecodeError(
            f"{where} -> {response.status_code} answered {describe_body(response)}",
            response=response,
            retries_taken=retries,
        ) from None
    except _converter.ShapeError as exc:
        raise DecodeError(
            f"{where} -> {response.status_code}: unexpected answer: {exc}",
            response=response,
            retries_taken=retries,
        ) from exc
