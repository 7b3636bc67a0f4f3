"""The exception tree of bsg_async, and the mapping from an HTTP answer to it.

::

    BSGError
    ├── InvalidRequestError (also ValueError)   bad arguments, nothing was sent
    ├── EventLoopError (also RuntimeError)      client used from a second event loop
    ├── MissingExtraError (also ImportError)    an optional feature's package is absent
    ├── BulkError                               an item of get_many/create_many failed
    ├── DuplicateInputError                     a bulk input repeats an earlier item
    ├── ClientClosedError                       the client was closed (or dropped)
    ├── APIConnectionError                      no usable answer from the server
    │   └── APITimeoutError
    ├── DecodeError                             an answer that is not the JSON promised
    ├── PagingError                             pages that would never end
    └── APIStatusError                          the server answered with an error status
        ├── BadRequestError            400
        ├── AuthenticationError        401, or a rejected API key
        ├── PermissionDeniedError      403
        ├── NotFoundError              404, and 422 "Invalid contact id"
        ├── UnprocessableEntityError   422
        ├── RateLimitError             429
        └── ServerError                5xx

Every error raised after a request was attempted carries ``retries_taken``
and ``may_have_been_applied``: the latter is True when a request that is not
safe to repeat (creating a contact) may have reached the server before it
failed, so the caller knows to check before sending it again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

R = TypeVar("R")

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BSGError",
    "BadRequestError",
    "BulkError",
    "ClientClosedError",
    "CoordinationError",
    "DecodeError",
    "DuplicateInputError",
    "EventLoopError",
    "InvalidRequestError",
    "MissingExtraError",
    "NotFoundError",
    "PagingError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnprocessableEntityError",
]

# How much of a non-JSON body an error message quotes.
_SNIPPET = 200


class BSGError(Exception):
    """Base class of every error bsg_async raises.

    Attributes:
        retries_taken: Retries the SDK made before giving up.
        may_have_been_applied: The request was not safe to repeat and may
            have reached the server: check before sending it again.
        offset: When paging failed, the offset to resume from.
    """

    retries_taken: int = 0
    may_have_been_applied: bool = False
    offset: int | None = None


class InvalidRequestError(BSGError, ValueError):
    """An argument was rejected before any request was sent."""


class EventLoopError(BSGError, RuntimeError):
    """The client was used from an event loop other than the one it first ran in.

    Its connections belong to that first loop (``asyncio.run`` closes it at
    the end). Nothing was sent.
    """


class MissingExtraError(BSGError, ImportError):
    """An optional feature needs a package that is not installed.

    The message names the extra that installs it, e.g.
    ``pip install "bsg-async[pandas]"``.
    """

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f'{feature} needs {package}, which is not installed: pip install "bsg-async[{extra}]"',
            name=package,
        )
        self.extra = extra


class BulkError(BSGError, Generic[R]):
    """One item of a bulk call (``get_many``, ``create_many``) failed.

    Raised when ``return_exceptions`` is False, after the results of the
    items before it were handed out.

    Attributes:
        index: The failing item's position in the input (from 0).
        cause: The item's own error (also the ``__cause__``), e.g. a
            ``NotFoundError``.
        completed: Items after the failing one that succeeded anyway, by
            position: ``create_many`` lets creates already in flight finish
            and lists the ones that were made here; ``get_many`` cancels
            reads in flight and lists those that had already arrived.
    """

    def __init__(self, index: int, cause: Exception, completed: Mapping[int, R]) -> None:
        message = f"item {index} of the input failed: {cause}"
        if completed:
            message += f" ({len(completed)} later items succeeded, see .completed)"
        super().__init__(message)
        self.index = index
        self.cause = cause
        self.completed = completed
        self.retries_taken: int = getattr(cause, "retries_taken", 0)
        self.may_have_been_applied: bool = getattr(cause, "may_have_been_applied", False)


class DuplicateInputError(BSGError):
    """An item of a bulk create repeats an earlier item of the same call; it was not sent.

    ``create_many`` sends each distinct phone once: the first item with it
    gets the outcome (the contact, or why it failed) and every later item
    with the same phone gets this error.

    Attributes:
        index: The repeating item's position in the input (from 0).
        first: The position of the item it repeats, which was sent.
        key: What the two items share (the phone).
    """

    def __init__(self, index: int, first: int, key: object) -> None:
        super().__init__(
            f"item {index} repeats item {first} ({key}): not sent; item {first} carries the outcome"
        )
        self.index = index
        self.first = first
        self.key = key


class ClientClosedError(BSGError):
    """The client was closed (``aclose()``) or garbage collected: nothing more is sent.

    Not a connection error: retrying on the same client cannot succeed.
    ``may_have_been_applied`` is True for a create cut off in flight.
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        may_have_been_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.may_have_been_applied = may_have_been_applied


class APIConnectionError(BSGError):
    """The request got no usable answer (network failure, dropped connection)."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        retries_taken: int = 0,
        may_have_been_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.retries_taken = retries_taken
        self.may_have_been_applied = may_have_been_applied


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class DecodeError(BSGError):
    """The server's answer was not the JSON the API documents.

    Attributes:
        message: What was wrong, with a short quote of the body.
        response: The answer, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response | None = None,
        retries_taken: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.response = response
        self.retries_taken = retries_taken

    @property
    def status_code(self) -> int | None:
        """The HTTP status of the answer, if there was one."""
        return None if self.response is None else self.response.status_code


class PagingError(BSGError):
    """The server's pages cannot be walked to an end, so the walk stopped.

    Raised by a paginator when the server claims a total beyond reason, when
    the total grows past what was there at the start by more than the
    margin (see ``Paginator``), or when a page holds only rows already
    received. ``offset`` says where it stopped; the items before it were
    handed out.
    """


class APIStatusError(BSGError):
    """The server answered with an error status.

    Attributes:
        status_code: The HTTP status.
        message: The API's ``message``, or a description of the answer.
        errors: The API's ``errors`` member as sent (list, mapping or None).
        response: The answer itself.
    """

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        errors: Any = None,  # noqa: ANN401 - the API sends a list, a mapping or nothing
        retries_taken: int = 0,
        may_have_been_applied: bool = False,
    ) -> None:
        self.status_code: int = response.status_code
        self.message: str = message
        self.errors: Any = errors
        self.response: httpx.Response = response
        self.retries_taken = retries_taken
        self.may_have_been_applied = may_have_been_applied
        super().__init__(self._describe())

    def _describe(self) -> str:
        request = self.response.request
        text = f"{request.method} {request.url.path} -> {self.status_code}: {self.message}"
        if self.errors:
            text += f" (errors: {self.errors!r})"
        if self.retries_taken:
            text += f" after {self.retries_taken} retries"
        if self.may_have_been_applied:
            text += "; the request may have been applied, check before sending it again"
        return text


class BadRequestError(APIStatusError):
    """400: the API rejected the request."""


class AuthenticationError(APIStatusError):
    """401: the token was refused twice, or the API key was rejected at login."""


class PermissionDeniedError(APIStatusError):
    """403: the account may not do this."""


class NotFoundError(APIStatusError):
    """404, or 422 "Invalid contact id": the object does not exist."""


class UnprocessableEntityError(APIStatusError):
    """422: validation failed on the server (for example a duplicate phone)."""


class RateLimitError(APIStatusError):
    """429: too many requests, or BSG's duplicate-request detection.

    Attributes:
        retry_after: Seconds the server asked to wait, when it said.
        duplicate: The API refused a create or update as a duplicate of an
            identical request it received within the last second (a 429
            without ``Retry-After``). The SDK does not send such a request
            again; ``may_have_been_applied`` is True, as the first copy was.
    """

    duplicate: bool = False

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        errors: Any = None,  # noqa: ANN401
        retries_taken: int = 0,
        may_have_been_applied: bool = False,
    ) -> None:
        self.retry_after: float | None = parse_retry_after(response.headers.get("retry-after"))
        super().__init__(
            message,
            response=response,
            errors=errors,
            retries_taken=retries_taken,
            may_have_been_applied=may_have_been_applied,
        )


class ServerError(APIStatusError):
    """5xx: the server or a proxy in front of it failed."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

# 422 messages that mean "no such object" rather than "invalid input".
_NOT_FOUND_MESSAGES = frozenset({"invalid contact id", "contact group is not found"})


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header given in seconds; dates and junk give None.

    Negative, infinite and NaN values are junk too: the caller's own backoff
    applies instead.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not 0 <= seconds < math.inf:  # negative, infinite or NaN
        return None
    return seconds


def error_class_for(status_code: int, message: str) -> type[APIStatusError]:
    """Pick the exception class for an error status and the API's message."""
    if status_code == 422 and message.strip().lower() in _NOT_FOUND_MESSAGES:  # noqa: PLR2004
        return NotFoundError
    if status_code >= 500:  # noqa: PLR2004
        return ServerError
    return _BY_STATUS.get(status_code, APIStatusError)


def describe_body(response: httpx.Response) -> str:
    """Say what a body that is not the expected JSON looks like, briefly."""
    content_type = response.headers.get("content-type", "no content type")
    if not response.content:
        return f"an empty body ({content_type})"
    snippet = response.content[:_SNIPPET].decode("utf-8", "replace")
    snippet = " ".join(snippet.split())
    more = "..." if len(response.content) > _SNIPPET else ""
    return f"a non-JSON body ({content_type}, {len(response.content)} bytes): {snippet!r}{more}"


class CoordinationError(BSGError):
    """Redis, which coordinates the workers, could not be reached; nothing was sent."""
