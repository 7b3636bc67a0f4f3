"""An embedded emulator of the BSG Contacts family, for tests and demos.

>>> fake = FakeBSG(seed_contacts=100)
>>> async with fake.client() as client:            # in process, no sockets
...     contacts = await client.contacts.list().collect()
>>> with fake.serve() as server:                   # a real loopback server
...     async with Client(DEFAULT_KEY, base_url=server.base_url) as client: ...

Pytest users get the fixtures ``fake_bsg``, ``bsg_client`` and
``fake_bsg_server`` with ``pytest_plugins = ["bsg_async.testing.fixtures"]``.
"""

from bsg_async.testing._emulator import DEFAULT_KEY, IN_PROCESS_URL, FakeBSG, Faults, Reply
from bsg_async.testing._server import EmulatorServer
from bsg_async.testing._transport import EmulatorTransport

__all__ = [
    "DEFAULT_KEY",
    "IN_PROCESS_URL",
    "EmulatorServer",
    "EmulatorTransport",
    "FakeBSG",
    "Faults",
    "Reply",
]
