"""Contacts: list, get, create, update."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsg_async._converter import read_data, read_page
from bsg_async._pagination import Paginator
from bsg_async._validate import (
    check_fields,
    check_id,
    check_ids,
    check_limit,
    check_offset,
    check_page_size,
    check_phone,
)
from bsg_async.models import Contact, Page
from bsg_async.resources._base import Resource

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from bsg_async.resources._base import Params

__all__ = ["Contacts"]

# The API takes at most this many lists per contact.
MAX_GROUPS = 100


class Contacts(Resource):
    """The Contact Book (``/contacts``)."""

    def list(
        self,
        *,
        groups: Iterable[int] | None = None,
        page_size: int = 500,
        offset: int = 0,
        limit: int | None = None,
    ) -> Paginator[Contact]:
        """Iterate over contacts, optionally only those in some lists.

        Args:
            groups: Ids of lists whose contacts to return (None: all).
            page_size: Contacts per request, 15 to 500.
            offset: Where to start (to resume an earlier walk).
            limit: Most contacts to return (None: all).

        Returns:
            A paginator: ``async for``, ``.pages()`` or ``await .collect()``.

        Raises:
            InvalidRequestError: An argument is out of range (nothing sent).
        """
        group_ids = check_ids(groups, "groups")
        size = check_page_size(page_size)
        start = check_offset(offset)
        cap = check_limit(limit)

        async def fetch(at: int, count: int) -> Page[Contact]:
            params: Params = [
                ("page[limit]", count),
                ("page[offset]", at),
                *(("groups[]", group) for group in group_ids),
            ]
            return await self._request(
                "GET", "/contacts", params=params, parse=lambda body: read_page(body, Contact, at)
            )

        return Paginator(fetch, page_size=size, offset=start, limit=cap)

    async def get(self, contact_id: int) -> Contact:
        """Fetch one contact.

        Raises:
            NotFoundError: No such contact (the API answers 422).
            InvalidRequestError: ``contact_id`` is not an int >= 1.
        """
        contact_id = check_id(contact_id, "contact_id")
        return await self._request(
            "GET", f"/contacts/{contact_id}", parse=lambda body: read_data(body, Contact)
        )

    async def create(
        self,
        *,
        phone: int,
        groups: Iterable[int] = (),
        fields: Mapping[int, str] | None = None,
    ) -> Contact:
        """Add a contact to the Contact Book.

        Creating is not idempotent: it is retried only when the request
        provably never reached the server. Other failures raise with
        ``may_have_been_applied`` set.

        Args:
            phone: International number, 9 to 15 digits, e.g. 61401629754.
            groups: Ids of the lists to add the contact to.
            fields: Custom field values by field id.

        Raises:
            UnprocessableEntityError: The phone is already in the Contact Book.
            InvalidRequestError: An argument is invalid (nothing sent).
        """
        body: dict[str, object] = {"phone": check_phone(phone)}
        group_ids = check_ids(groups, "groups", max_items=MAX_GROUPS)
        pairs = check_fields(fields)
        # Like the spec's examples, send only what is set.
        if group_ids:
            body["groups"] = group_ids
        if pairs:
            body["fields"] = pairs
        return await self._request(
            "POST",
            "/contacts",
            json=body,
            idempotent=False,
            parse=lambda data: read_data(data, Contact),
        )

    async def update(
        self,
        contact_id: int,
        *,
        phone: int,
        groups: Iterable[int] | None = None,
        fields: Mapping[int, str] | None = None,
    ) -> Contact:
        """Change a contact's phone, lists or custom field values.

        Args:
            contact_id: The contact to change.
            phone: The (new or unchanged) phone; the API requires it.
            groups: Lists to add the contact to (None: leave as is).
            fields: Custom field values to set (None: leave as is).

        Raises:
            NotFoundError: No such contact.
            InvalidRequestError: An argument is invalid (nothing sent).
        """
        contact_id = check_id(contact_id, "contact_id")
        body: dict[str, object] = {"phone": check_phone(phone)}
        if groups is not None:
            body["groups"] = check_ids(groups, "groups", max_items=MAX_GROUPS)
        if fields is not None:
            body["fields"] = check_fields(fields)
        return await self._request(
            "PUT",
            f"/contacts/{contact_id}",
            json=body,
            idempotent=True,
            parse=lambda data: read_data(data, Contact),
        )
