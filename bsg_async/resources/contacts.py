"""Contacts: list, search, get, create, update, delete, and the bulk calls."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Literal, overload

from bsg_async._bulk import BulkIterator
from bsg_async._converter import read_data
from bsg_async._errors import BSGError, DuplicateInputError, InvalidRequestError, NotFoundError
from bsg_async._validate import (
    check_fields,
    check_id,
    check_ids,
    check_phone,
    one_of_named,
)
from bsg_async.models import Contact, NewContact
from bsg_async.resources._base import (
    FirstOccurrences,
    Repeat,
    Resource,
    chunk_query,
    ignore_body,
    settle_create,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from bsg_async._pagination import Paginator, PagingOptions
    from bsg_async.resources._base import Params

__all__ = ["Contacts"]

# Limits of the API.
MAX_GROUPS = 100
DELETE_CHUNK = 5000
# delete_many sends ids as query parameters, and request lines beyond ~8 KiB
# are refused by common proxies (and beyond 64 KiB by httpx itself): a call
# holds at most DELETE_CHUNK ids and at most this many characters of query.
MAX_QUERY_CHARS = 8000
SEARCH_FIELDS = frozenset({"id", "phone", "group_id", "created_at"})
SORTS = frozenset({"id", "phone"})
DEFAULT_BULK_CONCURRENCY = 16


class Contacts(Resource):
    """The Contact Book (``/contacts``)."""

    def list(
        self,
        *,
        lists: Iterable[int] | None = None,
        groups: Iterable[int] | None = None,
        **paging: Unpack[PagingOptions],
    ) -> Paginator[Contact]:
        """Iterate over contacts, optionally only those in some lists.

        Args:
            lists: Ids of lists whose contacts to return (None: all).
            groups: The same as ``lists``, in the API's word.
            **paging: ``page_size`` (15 to 500, default 500), ``offset``,
                ``limit`` and ``prefetch``: see ``PagingOptions``.

        Returns:
            A paginator: ``async for``, ``.pages()`` or ``await .collect()``.

        Raises:
            InvalidRequestError: An argument is out of range (nothing sent).
        """
        chosen, word = one_of_named(lists, groups, "lists", "groups")
        params: Params = [("groups[]", group) for group in check_ids(chosen, word)]
        return self._paginate(
            "/contacts",
            Contact,
            params,
            paging=paging,
        )

    def search(
        self,
        *,
        field: str | int | None = None,
        operator: str | None = None,
        value: str | float | None = None,
        where: Iterable[tuple[str | int, str, str | float]] | None = None,
        sort: str | None = None,
        way: str | None = None,
        **paging: Unpack[PagingOptions],
    ) -> Paginator[Contact]:
        """Iterate over contacts matching one condition.

        Args:
            field: id, phone, group_id, created_at, or a custom field id.
            operator: like, =, >=, >, <, <=.
            value: The value to compare with.
            where: Several conditions that must all hold, as
                (field, operator, value) tuples, instead of the three above.
            sort: id or phone (None: the API's default, id).
            way: asc or desc.
            **paging: ``page_size`` (15 to 500, default 500), ``offset``,
                ``limit`` and ``prefetch``: see ``PagingOptions``.

        Raises:
            InvalidRequestError: An argument is invalid (nothing sent).
        """
        return self._search(
            "/contacts/search",
            Contact,
            (field, operator, value),
            where,
            (sort, way),
            fields=SEARCH_FIELDS,
            sorts=SORTS,
            custom_field_ids=True,
            paging=paging,
        )

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
        phone: int | str,
        lists: Iterable[int] | None = None,
        fields: Mapping[int, str] | None = None,
        recover: bool = True,
        groups: Iterable[int] | None = None,
    ) -> Contact:
        """Add a contact to the Contact Book.

        A returned contact is one this call put in the Contact Book; a phone
        that was there before is ``UnprocessableEntityError``. Creating is
        not idempotent, so the retry layer repeats it only when the request
        provably never reached the server. When a failure leaves the outcome
        unknown (a timeout, a dropped connection, a 5xx) and ``recover`` is
        on, the SDK looks the phone up (phones are unique in a Contact Book)
        before sending anything again: found, that contact is returned; not
        found, the create is sent again (up to 3 times), and a re-send
        refused as "already exists" (the first attempt was applied late) is
        settled by another lookup. A 429 duplicate refusal of a first
        attempt is final: ``RateLimitError`` with ``duplicate``.

        Args:
            phone: International number, 9 to 15 digits: 61401629754, or as
                people write it, "+61 401 629 754".
            lists: Ids of the lists to add the contact to.
            fields: Custom field values by field id.
            recover: Settle unknown outcomes by a lookup (see above).
            groups: The same as ``lists``, in the API's word.

        Raises:
            UnprocessableEntityError: The phone is already in the Contact Book.
            InvalidRequestError: An argument is invalid (nothing sent).
            BSGError: With ``may_have_been_applied`` when recovery is off or
                could not settle the outcome.
        """
        phone_number = check_phone(phone)
        body = _new_contact_body(phone_number, lists, groups, fields)

        async def send() -> Contact:
            return await self._request(
                "POST",
                "/contacts",
                json=body,
                idempotent=False,
                write=True,
                parse=lambda data: read_data(data, Contact),
            )

        return await settle_create(
            send, lambda: self.find_by_phone(phone_number), what="contact", recover=recover
        )

    async def find_by_phone(self, phone: int | str) -> Contact | None:
        """The contact with exactly this phone, or None (phones are unique).

        Raises:
            InvalidRequestError: ``phone`` is not an int of 9 to 15 digits.
        """
        phone = check_phone(phone)
        matches = self.search(field="phone", operator="=", value=phone, page_size=15, limit=15)
        async for contact in matches:
            if contact.phone == phone:
                return contact
        return None

    async def update(
        self,
        contact_id: int,
        *,
        phone: int | str,
        lists: Iterable[int] | None = None,
        fields: Mapping[int, str] | None = None,
        groups: Iterable[int] | None = None,
    ) -> Contact:
        """Change a contact's phone, lists or custom field values.

        Args:
            contact_id: The contact to change.
            phone: The (new or unchanged) phone; the API requires it.
            lists: Lists to add the contact to (None: leave as is).
            fields: Custom field values to set (None: leave as is).
            groups: The same as ``lists``, in the API's word.

        Raises:
            NotFoundError: No such contact.
            InvalidRequestError: An argument is invalid (nothing sent).
        """
        contact_id = check_id(contact_id, "contact_id")
        body: dict[str, object] = {"phone": check_phone(phone)}
        chosen, word = one_of_named(lists, groups, "lists", "groups")
        if chosen is not None:
            body["groups"] = check_ids(chosen, word, max_items=MAX_GROUPS)
        if fields is not None:
            body["fields"] = check_fields(fields)
        return await self._request(
            "PUT",
            f"/contacts/{contact_id}",
            json=body,
            idempotent=True,
            write=True,
            parse=lambda data: read_data(data, Contact),
        )

    async def delete(self, contact_id: int) -> None:
        """Delete a contact (it leaves every list too).

        A retry that finds the contact already gone counts as success: the
        first attempt deleted it.

        Raises:
            NotFoundError: No such contact (on the first attempt).
        """
        contact_id = check_id(contact_id, "contact_id")
        try:
            await self._request(
                "DELETE", f"/contacts/{contact_id}", idempotent=True, parse=ignore_body
            )
        except NotFoundError as exc:
            if not exc.retries_taken:
                raise

    async def delete_many(
        self,
        *,
        contact_ids: Iterable[int] = (),
        list_ids: Iterable[int] | None = None,
        group_ids: Iterable[int] | None = None,
    ) -> None:
        """Delete contacts by id and/or every contact of some lists.

        Contact ids go out in calls of at most 5,000 (the API's limit) whose
        query string stays under 8,000 characters (what proxies accept; with
        real ids about 280 per call); the list ids in a call of their own.

        Args:
            contact_ids: Contacts to delete.
            list_ids: Lists whose every contact to delete (the lists stay).
            group_ids: The same as ``list_ids``, in the API's word.

        Raises:
            InvalidRequestError: No ids at all, or an id < 1 (nothing sent).
        """
        ids = check_ids(contact_ids, "contact_ids")
        chosen, word = one_of_named(list_ids, group_ids, "list_ids", "group_ids")
        groups = check_ids(chosen or (), word)
        if not ids and not groups:
            raise InvalidRequestError("delete_many needs contact_ids or list_ids")
        for chunk in chunk_query(ids, "contact_ids[]", DELETE_CHUNK, MAX_QUERY_CHARS):
            params: Params = [("contact_ids[]", contact_id) for contact_id in chunk]
            await self._request(
                "POST", "/contacts/delete", params=params, idempotent=True, parse=ignore_body
            )
        if groups:
            params = [("group_ids[]", group) for group in groups]
            await self._request(
                "POST", "/contacts/delete", params=params, idempotent=True, parse=ignore_body
            )

    @overload
    def get_many(
        self,
        ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: int = ...,
        return_exceptions: Literal[False] = ...,
    ) -> BulkIterator[Contact]: ...

    @overload
    def get_many(
        self,
        ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: int = ...,
        return_exceptions: Literal[True],
    ) -> BulkIterator[Contact | BSGError]: ...

    def get_many(
        self,
        ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: int = DEFAULT_BULK_CONCURRENCY,
        return_exceptions: bool = False,
    ) -> BulkIterator[Contact] | BulkIterator[Contact | BSGError]:
        """Fetch many contacts concurrently, yielding them in input order.

        ``ids`` is read lazily (a generator of a million ids is fine). At most
        ``concurrency`` requests run at once, and never more than the client's
        ``max_concurrency`` or ``rate_limit`` allow: asking for more than
        ``max_concurrency`` warns once (``ConcurrencyCappedWarning``).

        Args:
            ids: Contact ids, a sync or async iterable.
            concurrency: Most requests in flight for this call.
            return_exceptions: Yield a failed item's exception in its place
                (e.g. NotFoundError) instead of raising it.

        Returns:
            A ``BulkIterator``: ``async for``, ``.collect()``, ``.to_pandas()``.

        Raises:
            BulkError: Without ``return_exceptions``, the first failure, after
                the requests in flight were cancelled: ``err.index`` is its
                position in ``ids``, ``err.cause`` the item's error.
        """
        width = self._bulk_concurrency(concurrency, "get_many")
        if return_exceptions:
            return self._bulk(
                BulkIterator[Contact | BSGError], self.get, ids, width, "get_many", exceptions=True
            )
        return self._bulk(BulkIterator[Contact], self.get, ids, width, "get_many")

    @overload
    def create_many(
        self,
        contacts: Iterable[NewContact | Mapping[str, object]]
        | AsyncIterable[NewContact | Mapping[str, object]],
        *,
        concurrency: int = ...,
        return_exceptions: Literal[False] = ...,
    ) -> BulkIterator[Contact]: ...

    @overload
    def create_many(
        self,
        contacts: Iterable[NewContact | Mapping[str, object]]
        | AsyncIterable[NewContact | Mapping[str, object]],
        *,
        concurrency: int = ...,
        return_exceptions: Literal[True],
    ) -> BulkIterator[Contact | BSGError]: ...

    def create_many(
        self,
        contacts: Iterable[NewContact | Mapping[str, object]]
        | AsyncIterable[NewContact | Mapping[str, object]],
        *,
        concurrency: int = DEFAULT_BULK_CONCURRENCY,
        return_exceptions: bool = False,
    ) -> BulkIterator[Contact] | BulkIterator[Contact | BSGError]:
        """Create many contacts concurrently, yielding results in input order.

        Each input is a ``NewContact`` or a mapping with ``phone`` and
        optionally ``lists`` (or ``groups``) and ``fields``. Each distinct
        phone is sent once: the first item with it gets the outcome, every
        later one a ``DuplicateInputError`` naming the item it repeats (the
        phones seen are kept for the whole call, about 100 bytes each).
        Results follow the rule of ``create``: a ``Contact`` is one this
        call created.

        Args:
            contacts: What to create, a sync or async iterable (read lazily).
            concurrency: Most requests in flight for this call, within the
                client's ``max_concurrency`` (asking for more warns once).
            return_exceptions: Yield a failed item's exception in its place
                (e.g. a duplicate phone) instead of raising it.

        Returns:
            A ``BulkIterator``: ``async for``, ``.collect()``, ``.to_pandas()``.

        Raises:
            BulkError: Without ``return_exceptions``, the first failure
                (``err.index``, ``err.cause``). Creates already in flight are
                not cancelled (that would leave their outcome unknown); they
                finish, and those that succeeded after the failing item are
                on ``err.completed`` (index to Contact).
        """
        width = self._bulk_concurrency(concurrency, "create_many")
        create = self._create_one
        distinct = FirstOccurrences(_phone_key)
        if return_exceptions:
            return self._bulk(
                BulkIterator[Contact | BSGError],
                create,
                contacts,
                width,
                "create_many",
                exceptions=True,
                finish_in_flight=True,
                prepare=distinct,
            )
        return self._bulk(
            BulkIterator[Contact],
            create,
            contacts,
            width,
            "create_many",
            finish_in_flight=True,
            prepare=distinct,
        )

    async def _create_one(self, item: NewContact | Mapping[str, object] | Repeat) -> Contact:
        if isinstance(item, Repeat):
            raise DuplicateInputError(item.index, item.first, item.key)
        if isinstance(item, NewContact):
            return await self.create(
                phone=item.phone,
                lists=item.lists or None,
                groups=item.groups or None,
                fields=item.fields,
            )
        if not isinstance(item, Mapping) or "phone" not in item:
            raise InvalidRequestError(
                f"each contact must be a NewContact or a mapping with 'phone', got {item!r}"
            )
        unknown = set(item) - {"phone", "lists", "groups", "fields"}
        if unknown:
            raise InvalidRequestError(f"unknown contact keys: {sorted(unknown)}")
        return await self.create(
            phone=item["phone"],  # type: ignore[arg-type]
            lists=item.get("lists"),  # type: ignore[arg-type]
            groups=item.get("groups"),  # type: ignore[arg-type]
            fields=item.get("fields"),  # type: ignore[arg-type]
        )


def _new_contact_body(
    phone: int,
    lists: Iterable[int] | None,
    groups: Iterable[int] | None,
    fields: Mapping[int, str] | None,
) -> dict[str, object]:
    """The body of a create; like the spec's examples, only what is set."""
    body: dict[str, object] = {"phone": phone}
    chosen, word = one_of_named(lists, groups, "lists", "groups")
    group_ids = check_ids(chosen or (), word, max_items=MAX_GROUPS)
    if group_ids:
        body["groups"] = group_ids
    pairs = check_fields(fields)
    if pairs:
        body["fields"] = pairs
    return body


def _phone_key(item: object) -> int | None:
    """The phone an input item creates (None when unreadable: the create refuses it)."""
    if isinstance(item, NewContact):
        phone: object = item.phone
    elif isinstance(item, Mapping):
        phone = item.get("phone")
    else:
        return None
    try:
        return check_phone(phone)
    except InvalidRequestError:
        return None
