"""Custom contact fields (``/contacts/fields``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsg_async._converter import read_data
from bsg_async._errors import InvalidRequestError
from bsg_async._frames import Listing
from bsg_async._validate import check_bool, check_choice, check_id, check_ids, check_text
from bsg_async.models import ContactField, ContactFieldType
from bsg_async.resources._base import Resource, chunked, ignore_body

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Fields"]

DELETE_CHUNK = 30
FIELD_TYPES = frozenset(t.value for t in ContactFieldType)


class Fields(Resource):
    """Custom fields that contacts carry values for."""

    def list(self) -> Listing[ContactField]:
        """Every custom field of the account (the API does not page them).

        ``await`` it for a list, or ``await client.fields.list().to_pandas()``.
        """
        return Listing(self._fetch_fields, ContactField)

    async def create(
        self,
        *,
        name: str,
        type: ContactFieldType | str,
        description: str | None = None,
        is_visible: bool = True,
    ) -> ContactField:
        """Create a custom field.

        Args:
            name: 1 to 30 characters.
            type: text, date or number.
            description: 1 to 255 characters.
            is_visible: Whether the field is shown.

        Raises:
            InvalidRequestError: An argument is invalid (nothing sent).
        """
        kind = type.value if isinstance(type, ContactFieldType) else type
        body: dict[str, object] = {
            "name": check_text(name, "name", 1, 30),
            "type": check_choice(kind, "type", FIELD_TYPES),
            "is_visible": check_bool(is_visible, "is_visible"),
        }
        if description is not None:
            body["description"] = check_text(description, "description", 1, 255)
        return await self._request(
            "POST",
            "/contacts/fields",
            json=body,
            idempotent=False,
            write=True,
            parse=lambda data: read_data(data, ContactField),
        )

    async def update(
        self,
        field_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        is_visible: bool | None = None,
    ) -> ContactField:
        """Rename a field, or change its description or visibility.

        Raises:
            InvalidRequestError: Nothing to change, or a bad value (nothing sent).
        """
        field_id = check_id(field_id, "field_id")
        body: dict[str, object] = {}
        if name is not None:
            body["name"] = check_text(name, "name", 1, 30)
        if description is not None:
            body["description"] = check_text(description, "description", 1, 255)
        if is_visible is not None:
            body["is_visible"] = check_bool(is_visible, "is_visible")
        if not body:
            raise InvalidRequestError("update needs name, description or is_visible")
        return await self._request(
            "PATCH",
            f"/contacts/fields/{field_id}",
            json=body,
            idempotent=True,
            write=True,
            parse=lambda data: read_data(data, ContactField),
        )

    async def delete(self, field_ids: int | Iterable[int]) -> None:
        """Delete custom fields (and their values on every contact).

        Ids go out in calls of at most 30 (the API's limit).
        """
        ids = (
            [check_id(field_ids, "field_ids")]
            if isinstance(field_ids, int)
            else check_ids(field_ids, "field_ids")
        )
        if not ids:
            raise InvalidRequestError("field_ids must name at least one field")
        for chunk in chunked(ids, DELETE_CHUNK):
            await self._request(
                "POST",
                "/contacts/fields/delete",
                json={"ids": chunk},
                idempotent=True,
                parse=ignore_body,
            )
