"""One module per API resource; each turns calls into requests and answers into models."""

from bsg_async.resources.contacts import Contacts
from bsg_async.resources.fields import Fields
from bsg_async.resources.lists import Lists
from bsg_async.resources.stoplist import Stoplist

__all__ = ["Contacts", "Fields", "Lists", "Stoplist"]
