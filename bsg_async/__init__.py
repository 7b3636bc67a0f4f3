"""Async Python SDK for the BSG one-api Contacts family.

>>> async with bsg_async.Client(api_key="live_...") as client:
...     async for contact in client.contacts.list():
...         print(contact.id, contact.phone)
"""

from bsg_async._bulk import BulkIterator
from bsg_async._client import (
    DEFAULT_BASE_URL,
    Client,
    InsecureTransportWarning,
    UnclosedClientWarning,
)
from bsg_async._clock import Clock
from bsg_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BSGError,
    BulkError,
    ClientClosedError,
    CoordinationError,
    DecodeError,
    DuplicateInputError,
    EventLoopError,
    InvalidRequestError,
    MissingExtraError,
    NotFoundError,
    PagingError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from bsg_async._frames import Listing
from bsg_async._logging import Redact
from bsg_async._observe import Answer
from bsg_async._pagination import ItemIterator, PageIterator, PageStream, Paginator, PagingOptions
from bsg_async._redis import RedisCoordination
from bsg_async._validate import parse_phone
from bsg_async._version import __version__
from bsg_async.models import (
    Contact,
    ContactField,
    ContactFieldType,
    ContactList,
    FieldValues,
    HlrStatus,
    NewContact,
    Page,
    StoplistEntry,
    StoplistType,
    to_jsonable,
)
from bsg_async.resources._base import ConcurrencyCappedWarning

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Answer",
    "AuthenticationError",
    "BSGError",
    "BadRequestError",
    "BulkError",
    "BulkIterator",
    "Client",
    "ClientClosedError",
    "Clock",
    "ConcurrencyCappedWarning",
    "Contact",
    "ContactField",
    "ContactFieldType",
    "ContactList",
    "CoordinationError",
    "DEFAULT_BASE_URL",
    "DecodeError",
    "DuplicateInputError",
    "EventLoopError",
    "FieldValues",
    "HlrStatus",
    "InsecureTransportWarning",
    "InvalidRequestError",
    "ItemIterator",
    "Listing",
    "MissingExtraError",
    "NewContact",
    "NotFoundError",
    "Page",
    "PageIterator",
    "PageStream",
    "Paginator",
    "PagingError",
    "PagingOptions",
    "PermissionDeniedError",
    "RateLimitError",
    "Redact",
    "RedisCoordination",
    "ServerError",
    "StoplistEntry",
    "StoplistType",
    "UnclosedClientWarning",
    "UnprocessableEntityError",
    "__version__",
    "parse_phone",
    "to_jsonable",
]
