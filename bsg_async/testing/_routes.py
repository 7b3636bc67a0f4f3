"""The emulator's route table: method and path pattern to handler."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from bsg_async.testing._handlers import auth, contacts, fields, lists, stoplist

if TYPE_CHECKING:
    from bsg_async.testing._emulator import FakeBSG
    from bsg_async.testing._protocol import Call, Reply
    from bsg_async.testing._state import Account

__all__ = ["AUTH_ROUTES", "ROUTES", "Route", "find"]

# A resource's handler works on the account; the login and the refresh
# work on the emulator, which issues the tokens.
Handler = Callable[["Account", "Call"], "Reply"]
AuthHandler = Callable[["FakeBSG", "Call"], "Reply"]
_ID = r"(?P<id>[^/]+)"


class Route:
    """One operation: its method, path pattern, name and handler (or auth handler)."""

    def __init__(
        self,
        method: str,
        path: str,
        handler: Handler | None = None,
        *,
        auth: AuthHandler | None = None,
    ) -> None:
        self.method = method
        self.literal = "(?P" not in path
        self.pattern = re.compile(f"^/api{path}$")
        self.handler = handler
        self.auth = auth
        named = handler or auth
        assert named is not None  # noqa: S101 - a route has one of the two
        self.name = named.__name__


ROUTES = [
    Route("POST", "/auth/login", auth=auth.login),
    Route("POST", "/auth/refresh", auth=auth.refresh),
    Route("GET", "/contacts", contacts.contacts_list),
    Route("POST", "/contacts", contacts.contact_create),
    Route("GET", "/contacts/search", contacts.contacts_search),
    Route("POST", "/contacts/delete", contacts.contacts_delete),
    Route("GET", "/contacts/fields", fields.fields_list),
    Route("POST", "/contacts/fields", fields.field_create),
    Route("POST", "/contacts/fields/delete", fields.fields_delete),
    Route("PATCH", f"/contacts/fields/{_ID}", fields.field_update),
    Route("GET", f"/contacts/{_ID}", contacts.contact_get),
    Route("PUT", f"/contacts/{_ID}", contacts.contact_update),
    Route("DELETE", f"/contacts/{_ID}", contacts.contact_delete),
    Route("GET", "/groups", lists.groups_list),
    Route("POST", "/groups", lists.group_create),
    Route("GET", "/groups/search", lists.groups_search),
    Route("POST", "/groups/attach", lists.groups_attach),
    Route("POST", "/groups/detach", lists.groups_detach),
    Route("GET", f"/groups/{_ID}", lists.group_get),
    Route("PUT", f"/groups/{_ID}", lists.group_update),
    Route("DELETE", f"/groups/{_ID}", lists.group_delete),
    Route("GET", "/stoplist", stoplist.stoplist_list),
    Route("GET", "/stoplist/search", stoplist.stoplist_search),
    Route("POST", "/stoplist/attach", stoplist.stoplist_attach),
    Route("POST", "/stoplist/detach", stoplist.stoplist_detach),
]
AUTH_ROUTES = frozenset({"login", "refresh"})


def find(method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
    """The route for a request, its path parameters, and the methods the path allows.

    A literal path wins over a pattern, as in a web framework:
    ``/contacts/search`` is the search, never a contact whose id is "search".
    """
    matches = [(route, route.pattern.match(path)) for route in ROUTES]
    found = [(route, match) for route, match in matches if match is not None]
    if any(route.literal for route, _ in found):
        found = [(route, match) for route, match in found if route.literal]
    for route, match in found:
        if route.method == method:
            return route, match.groupdict(), [route.method]
    return None, {}, sorted({route.method for route, _ in found})
