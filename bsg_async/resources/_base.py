"""What every resource receives from the client: one function that sends a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Params", "Requester", "Resource", "ignore_body"]

T = TypeVar("T")

Params = list[tuple[str, "str | int | float | bool | None"]]


class Requester(Protocol):
    """The client's single edge: send, map errors, and parse the JSON body."""

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[Any], T],
        params: Params | None = None,
        json: object = None,
        idempotent: bool | None = None,
    ) -> T:
        """Send one request and return ``parse(body)``."""
        ...


def ignore_body(_: object) -> None:
    """Parser for answers whose body carries nothing (204, or an empty object)."""


class Resource:
    """Base of the resource classes: holds the client's requester."""

    def __init__(self, request: Requester) -> None:
        self._request = request

    def __repr__(self) -> str:
        return f"<{type(self).__name__} resource>"
