"""Contact lists (the API's ``/groups``): CRUD, search, attach and detach."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsg_async._converter import read_data
from bsg_async._errors import InvalidRequestError
from bsg_async._validate import (
    check_bool,
    check_id,
    check_ids,
    check_text,
)
from bsg_async.models import ContactList
from bsg_async.resources._base import Resource, chunked, ignore_body, settle_create

if TYPE_CHECKING:
    from collections.abc import Iterable

    from typing_extensions import Unpack

    from bsg_async._pagination import Paginator, PagingOptions

__all__ = ["Lists"]

# Limits of the API. One documentation page caps detach at 20 contacts per
# call, the spec at 200: detaching in twenties works with either.
ATTACH_CONTACTS = 200
DETACH_CONTACTS = 20
MEMBERSHIP_LISTS = 100
SEARCH_FIELDS = frozenset({"id", "name", "items", "created_at", "phone", "description"})
SORTS = frozenset({"id", "items", "name", "description", "created_at"})


def _list_body(name: object, description: object, default: object) -> dict[str, object]:
    body: dict[str, object] = {"name": check_text(name, "name", 3, 50)}
    if description is not None:
        body["description"] = check_text(description, "description", 1, 255)
    if default is not None:
        body["default"] = check_bool(default, "default")
    return body


class Lists(Resource):
    """Contact lists (``/groups``)."""

    def list(
        self,
        **paging: Unpack[PagingOptions],
    ) -> Paginator[ContactList]:
        """Iterate over the account's contact lists.

        Raises:
            InvalidRequestError: An argument is out of range (nothing sent).
        """
        return self._paginate(
            "/groups",
            ContactList,
            [],
            paging=paging,
        )

    def search(
        self,
        *,
        field: str | None = None,
        operator: str | None = None,
        value: str | float | None = None,
        where: Iterable[tuple[str, str, str | float]] | None = None,
        sort: str | None = None,
        way: str | None = None,
        **paging: Unpack[PagingOptions],
    ) -> Paginator[ContactList]:
        """Iterate over lists matching one condition.

        Args:
            field: id, name, items, created_at, phone (lists holding that
                phone) or description.
            operator: like, =, >=, >, <, <=.
            value: The value to compare with.
            where: Several conditions that must all hold, as
                (field, operator, value) tuples, instead of the three above.
            sort: id, items, name, description or created_at.
            way: asc or desc.
            **paging: ``page_size`` (15 to 500, default 500), ``offset``,
                ``limit`` and ``prefetch``: see ``PagingOptions``.
        """
        return self._search(
            "/groups/search",
            ContactList,
            (field, operator, value),
            where,
            (sort, way),
            fields=SEARCH_FIELDS,
            sorts=SORTS,
            paging=paging,
        )

    async def get(self, list_id: int) -> ContactList:
        """Fetch one list.

        Raises:
            NotFoundError: No such list.
        """
        list_id = check_id(list_id, "list_id")
        return await self._request(
            "GET", f"/groups/{list_id}", parse=lambda body: read_data(body, ContactList)
        )

    async def create(
        self, *, name: str, description: str | None = None, default: bool = False
    ) -> ContactList:
        """Create a list.

        A returned list is one this call created; a name in use before the
        call is ``UnprocessableEntityError``. An unknown outcome (a timeout,
        a dropped connection, a 5xx) is settled by looking the name up before
        anything is sent again, as ``contacts.create`` does with phones.

        Args:
            name: 3 to 50 characters, unique in the account.
            description: 1 to 255 characters.
            default: Whether new contacts go to this list by default.

        Raises:
            UnprocessableEntityError: A list with this name exists.
            InvalidRequestError: An argument is invalid (nothing sent).
        """
        body = _list_body(name, description, default)

        async def send() -> ContactList:
            return await self._request(
                "POST",
                "/groups",
                json=body,
                idempotent=False,
                write=True,
                parse=lambda data: read_data(data, ContactList),
            )

        return await settle_create(
            send, lambda: self.find_by_name(str(body["name"])), what="list", recover=True
        )

    async def find_by_name(self, name: str) -> ContactList | None:
        """The list with exactly this name, or None (names are unique in an account).

        Raises:
            InvalidRequestError: ``name`` is not 3 to 50 characters.
        """
        name = check_text(name, "name", 3, 50)
        async for found in self.search(field="name", operator="=", value=name, page_size=15):
            if found.name == name:
                return found
        return None

    async def update(
        self,
        list_id: int,
        *,
        name: str,
        description: str | None = None,
        default: bool | None = None,
    ) -> ContactList:
        """Rename a list or change its description or default flag.

        Args:
            list_id: The list to change.
            name: The (new or unchanged) name; the API requires it.
            description: New description (None: leave as is).
            default: New default flag (None: leave as is).
        """
        list_id = check_id(list_id, "list_id")
        return await self._request(
            "PUT",
            f"/groups/{list_id}",
            json=_list_body(name, description, default),
            idempotent=True,
            write=True,
            parse=lambda body: read_data(body, ContactList),
        )

    async def delete(self, list_id: int) -> None:
        """Delete a list (its contacts stay in the Contact Book).

        Raises:
            NotFoundError: No such list.
        """
        list_id = check_id(list_id, "list_id")
        await self._request("DELETE", f"/groups/{list_id}", idempotent=True, parse=ignore_body)

    async def attach(self, *, contact_ids: Iterable[int], list_ids: Iterable[int]) -> None:
        """Add contacts to lists, any number of each.

        The ids are split into calls of at most 200 contacts and 100 lists.

        Raises:
            InvalidRequestError: Empty or invalid ids (nothing sent).
        """
        await self._membership("/groups/attach", contact_ids, list_ids, ATTACH_CONTACTS)

    async def detach(self, *, contact_ids: Iterable[int], list_ids: Iterable[int]) -> None:
        """Remove contacts from lists, any number of each.

        The ids are split into calls of at most 20 contacts and 100 lists.

        Raises:
            InvalidRequestError: Empty or invalid ids (nothing sent).
        """
        await self._membership("/groups/detach", contact_ids, list_ids, DETACH_CONTACTS)

    async def _membership(
        self, path: str, contact_ids: Iterable[int], list_ids: Iterable[int], chunk: int
    ) -> None:
        contacts = check_ids(contact_ids, "contact_ids")
        lists = check_ids(list_ids, "list_ids")
        if not contacts or not lists:
            raise InvalidRequestError("contact_ids and list_ids must both name at least one id")
        for list_chunk in chunked(lists, MEMBERSHIP_LISTS):
            for contact_chunk in chunked(contacts, chunk):
                await self._request(
                    "POST",
                    path,
                    json={"contacts": contact_chunk, "groups": list_chunk},
                    idempotent=True,
                    parse=ignore_body,
                )
