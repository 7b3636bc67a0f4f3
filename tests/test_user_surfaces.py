"""Where users work: DataFrames, progress bars, typed bulk results, notebook comfort.

Over real loopback sockets against the served emulator, on asyncio and trio.
"""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pandas as pd
import polars as pl
import pytest

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG

pytestmark = pytest.mark.anyio

CONTACTS = 40
PANDAS_DTYPES = {
    "id": "Int64",
    "phone": "Int64",
    "created_at": "datetime64[ns]",
    "lists": "object",
    "hlr_status": "string",
    "hlr_last_check": "datetime64[ns]",
}


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=CONTACTS, seed=5).serve() as running:
        yield running


@pytest.fixture
async def client(served: EmulatorServer) -> AsyncIterator[bsg_async.Client]:
    async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url) as c:
        yield c


async def _add_city(client: bsg_async.Client) -> tuple[int, int, list[bsg_async.Contact]]:
    """A second custom field, set on the first three contacts; (name id, city id, contacts)."""
    name_field = (await client.fields.list())[0]
    city = await client.fields.create(name="City", type="text")
    contacts = await client.contacts.list().collect()
    for contact in contacts[:3]:
        await client.contacts.update(
            contact.id, phone=contact.phone, fields={city.id: f"Town {contact.id}"}
        )
    return name_field.id, city.id, await client.contacts.list().collect()


async def test_contacts_to_pandas_rows_columns_dtypes(client: bsg_async.Client) -> None:
    """One row per contact; typed columns; one column per custom field, by id."""
    name_id, city_id, contacts = await _add_city(client)
    frame = await client.contacts.list(page_size=15).to_pandas()
    assert (CONTACTS, 8) == frame.shape
    expected = {**PANDAS_DTYPES, str(name_id): "string", str(city_id): "string"}
    assert expected == {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert [c.id for c in contacts] == frame["id"].tolist()
    assert [c.phone for c in contacts] == frame["phone"].tolist()
    assert [[g.id for g in c.groups] for c in contacts] == frame["lists"].tolist()
    assert [c.fields[name_id] for c in contacts] == frame[str(name_id)].tolist()
    towns = [f"Town {c.id}" for c in contacts[:3]]
    assert towns == frame[str(city_id)].iloc[:3].tolist()
    assert 3 == frame[str(city_id)].notna().sum()
    assert contacts[0].created_at == frame["created_at"].iloc[0].to_pydatetime()


async def test_field_names_name_the_columns(client: bsg_async.Client) -> None:
    """field_names=True: custom field columns carry the fields' names."""
    await _add_city(client)
    frame = await client.contacts.list().to_pandas(field_names=True)
    assert [*PANDAS_DTYPES, "Name", "City"] == list(frame.columns)


async def test_every_field_of_the_account_has_its_named_column(
    client: bsg_async.Client,
) -> None:
    """field_names=True: a field no row uses, and an empty result, still have their columns."""
    await client.fields.create(name="Unused", type="text")
    empty = client.contacts.search(field="phone", operator="=", value=100000000)
    for frame in (
        await client.contacts.list().to_pandas(field_names=True),
        await empty.to_pandas(field_names=True),
    ):
        assert [*PANDAS_DTYPES, "Name", "Unused"] == list(frame.columns)
        assert "string" == str(frame["Unused"].dtype)
        assert frame["Unused"].isna().all()
    polars = await empty.to_polars(field_names=True)
    assert (0, len(PANDAS_DTYPES) + 2) == polars.shape
    assert pl.String == polars.schema["Unused"]


async def test_empty_result_keeps_columns_and_dtypes(client: bsg_async.Client) -> None:
    """A search with no match gives the same columns and dtypes, zero rows."""
    frame = await client.contacts.search(field="phone", operator="=", value=100000000).to_pandas()
    assert (0, len(PANDAS_DTYPES)) == frame.shape
    assert PANDAS_DTYPES == {name: str(dtype) for name, dtype in frame.dtypes.items()}
    polars = await client.contacts.search(field="phone", operator="=", value=100000000).to_polars()
    assert (0, len(PANDAS_DTYPES)) == polars.shape
    assert pl.List(pl.Int64) == polars.schema["lists"]


async def test_to_polars_schema_and_values(client: bsg_async.Client) -> None:
    """polars: Int64 ids, Datetime times, a List(Int64) of list ids, String fields."""
    contacts = await client.contacts.list().collect()
    frame = await client.contacts.list().to_polars()
    name_id = next(iter(contacts[0].fields))
    assert {
        "id": pl.Int64,
        "phone": pl.Int64,
        "created_at": pl.Datetime("us"),
        "lists": pl.List(pl.Int64),
        "hlr_status": pl.String,
        "hlr_last_check": pl.Datetime("us"),
        str(name_id): pl.String,
    } == dict(frame.schema)
    assert [c.id for c in contacts] == frame["id"].to_list()
    assert [[g.id for g in c.groups] for c in contacts] == frame["lists"].to_list()


async def test_every_listing_has_a_table(client: bsg_async.Client) -> None:
    """Lists, fields, the stop list, their searches and get_many all give DataFrames."""
    contacts = await client.contacts.list(limit=5).collect()
    await client.stoplist.add([contacts[0].phone, contacts[1].phone], types=["sms"])
    lists = await client.lists.list().to_pandas()
    assert ["id", "name", "description", "default", "created_at", "items", "stop_list_count"] == (
        list(lists.columns)
    )
    assert [CONTACTS] == lists["items"].tolist()
    assert "boolean" == str(lists["default"].dtype)
    fields = await client.fields.list().to_pandas()
    assert ["Name"] == fields["name"].tolist()
    assert ["text"] == fields["type"].tolist()
    stopped = await client.stoplist.list().to_pandas()
    assert [contacts[0].phone, contacts[1].phone] == sorted(stopped["phone"].tolist())
    assert [True, True] == stopped["sms_stoplist"].tolist()
    found = await client.lists.search(field="name", operator="like", value="Seeded").to_polars()
    assert 1 == found.height
    many = await client.contacts.get_many([c.id for c in contacts[:3]]).to_pandas()
    assert [c.id for c in contacts[:3]] == many["id"].tolist()


async def test_get_many_with_exceptions_keeps_a_row_per_input(client: bsg_async.Client) -> None:
    """A failed item keeps its row: empty cells and its error in an ``error`` column."""
    first = (await client.contacts.list(limit=1).collect())[0]
    frame = await client.contacts.get_many(
        [first.id, 999, first.id], return_exceptions=True
    ).to_pandas()
    assert [first.id, None, first.id] == [None if pd.isna(v) else v for v in frame["id"]]
    errors = frame["error"].tolist()
    assert pd.isna(errors[0])
    assert errors[1].startswith("NotFoundError: GET /api/contacts/999 -> 422")


async def test_progress_bar_counts_to_the_total(
    client: bsg_async.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """progress=True draws a tqdm bar that ends at the total, for pages and bulk calls."""
    items = await client.contacts.list(page_size=15).collect(progress=True)
    assert CONTACTS == len(items)
    drawn = capsys.readouterr().err
    assert (True, True) == (f"{CONTACTS}/{CONTACTS}" in drawn, "contacts: 100%" in drawn)
    frame = await client.contacts.list(limit=20, page_size=15).to_pandas(progress=True)
    assert 20 == len(frame)
    assert "20/20" in capsys.readouterr().err
    ids = [c.id for c in items[:7]]
    fetched = await client.contacts.get_many(ids).collect(progress=True)
    assert ids == [c.id for c in fetched]
    assert "7/7" in capsys.readouterr().err


async def test_missing_extras_fail_before_sending(
    served: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pandas, polars or tqdm: MissingExtraError naming the extra; nothing sent."""
    for module in ("pandas", "polars", "tqdm.auto"):
        monkeypatch.setitem(sys.modules, module, None)
    async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url) as client:
        with pytest.raises(bsg_async.MissingExtraError, match=r'pip install "bsg-async\[pandas\]"'):
            await client.contacts.list().to_pandas()
        with pytest.raises(bsg_async.MissingExtraError, match=r'pip install "bsg-async\[polars\]"'):
            await client.contacts.get_many([1]).to_polars()
        with pytest.raises(ImportError, match=r'pip install "bsg-async\[progress\]"'):
            await client.contacts.list().collect(progress=True)
    assert [] == served.fake.request_times  # not even a login


async def test_bulk_error_is_typed(client: bsg_async.Client) -> None:
    """BulkError: index, cause and completed, readable without type: ignore."""
    first = (await client.contacts.list(limit=1).collect())[0]
    # One at a time: the item after the failure never starts.
    results = client.contacts.get_many([first.id, 12345, first.id], concurrency=1)
    assert isinstance(results, bsg_async.BulkIterator)
    with pytest.raises(bsg_async.BulkError) as info:
        await results.collect()
    error = info.value
    assert (1, {}) == (error.index, dict(error.completed))
    assert isinstance(error.cause, bsg_async.NotFoundError)
    assert error.cause.message == "Invalid contact id"


async def test_bulk_iterator_aclose_stops_sending(served: EmulatorServer) -> None:
    """aclose() after the first result: no request after it."""
    async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url) as client:
        ids = [c.id for c in await client.contacts.list().collect()]
        results = client.contacts.get_many(ids, concurrency=2)
        async for _ in results:
            break
        await results.aclose()
        sent = len(served.fake.request_times)
        assert [] == [r async for r in results]
        assert sent == len(served.fake.request_times)


async def test_page_reprs_are_short(client: bsg_async.Client) -> None:
    """A page shows its span and counts, and an HTML table in notebooks."""
    page = await client.contacts.list(page_size=15).pages().__anext__()
    assert f"<Page 0-15 of {CONTACTS}: 15 Contact>" == repr(page)
    html = page._repr_html_()
    assert html.count("<tr>") == 11  # the header and ten rows
    assert "... and 5 more on this page" in html
    assert str(page.items[0].phone) in html


async def test_dropped_client_warns_and_closes(served: EmulatorServer) -> None:
    """A client dropped unclosed (a re-run notebook cell) warns once and is closed for you."""
    client = bsg_async.Client(DEFAULT_KEY, base_url=served.base_url)
    await client.contacts.list(limit=15).collect()
    http = client._core.http
    with pytest.warns(bsg_async.UnclosedClientWarning, match="dropped without being closed"):  # noqa: PT031 - dropping it is the statement
        del client
        gc.collect()
    # The close was handed to the event loop: a few turns of it finish it.
    for _ in range(50):
        if http.is_closed:
            break
        await anyio.lowlevel.checkpoint()
    assert http.is_closed


async def test_dropped_client_is_closed_without_the_garbage_collector(
    served: EmulatorServer,
) -> None:
    """No cycle keeps a client alive: dropped with gc off, it warns and its sockets close."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):  # a notebook cell run three times
            client = bsg_async.Client(DEFAULT_KEY, base_url=served.base_url)
            view = client.with_options(max_retries=1)
            await view.contacts.list(page_size=15, limit=60, prefetch=4).collect()
            assert served.open_connections > 0
            with pytest.warns(bsg_async.UnclosedClientWarning, match="dropped without"):
                del client, view
            with anyio.fail_after(5):  # the server notices closes on its own thread
                while served.open_connections:  # noqa: ASYNC110 - no event to wait on: the server runs in a thread
                    await anyio.sleep(0.01)
    finally:
        gc.enable()


async def test_a_resource_of_a_dropped_client_says_so(served: EmulatorServer) -> None:
    """A resource kept after its client is gone fails with a clear error, sends nothing."""
    contacts = bsg_async.Client(DEFAULT_KEY, base_url=served.base_url).contacts
    with pytest.raises(bsg_async.ClientClosedError, match="was garbage collected"):
        await contacts.get(1)
    assert [] == served.fake.request_times


def test_a_script_exiting_with_an_open_client_prints_nothing(tmp_path: Path) -> None:
    """Interpreter exit with an unclosed client: exit 0, no traceback, nothing on stderr."""
    script = tmp_path / "forgot.py"
    script.write_text(
        "import asyncio, bsg_async\n"
        "from bsg_async.testing import DEFAULT_KEY, FakeBSG\n"
        "fake = FakeBSG(seed_contacts=20)\n"
        "async def main():\n"
        "    global client\n"
        "    client = bsg_async.Client(DEFAULT_KEY, base_url=SERVED)\n"
        "    print(len(await client.contacts.list(page_size=15).collect()))\n"
        "with fake.serve() as server:\n"
        "    SERVED = server.base_url\n"
        "    asyncio.run(main())\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (0, "20\n") == (done.returncode, done.stdout)
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr


async def test_closed_or_unused_client_does_not_warn(served: EmulatorServer) -> None:
    """No warning for a client that was closed, or never sent anything."""
    unused = bsg_async.Client(DEFAULT_KEY, base_url=served.base_url)
    async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url) as closed:
        await closed.contacts.list(limit=15).collect()
    del unused, closed
    gc.collect()  # filterwarnings=error: a warning here fails the test


def test_contact_lists_alias_and_frame_time_type() -> None:
    """Contact.lists is Contact.groups (one vocabulary: lists)."""
    group = bsg_async.ContactList(id=4, name="abc", created_at=datetime(2025, 1, 2))
    contact = bsg_async.Contact(id=1, phone=123456789, groups=(group,))
    assert (group,) == contact.lists


async def test_lists_vocabulary_and_api_aliases(served: EmulatorServer) -> None:
    """lists= everywhere; the API's groups= / group_ids= / contact_group_id= still work."""
    async with bsg_async.Client(DEFAULT_KEY, base_url=served.base_url) as client:
        target = await client.lists.create(name="VIP clients")
        made = await client.contacts.create(phone="+61 401 629 754", lists=[target.id])
        again = await client.contacts.create(phone=61401629755, groups=[target.id])
        assert [target.id] == [g.id for g in made.lists]
        assert [made.id, again.id] == [
            c.id for c in await client.contacts.list(lists=[target.id]).collect()
        ]
        assert [made.id, again.id] == [
            c.id for c in await client.contacts.list(groups=[target.id]).collect()
        ]
        created = await client.contacts.create_many(
            [
                bsg_async.NewContact(phone=61401629756, lists=(target.id,)),
                {"phone": 61401629757, "lists": [target.id]},
            ]
        ).collect()
        assert [[target.id], [target.id]] == [[g.id for g in c.lists] for c in created]
        await client.stoplist.add([made.phone, 61401629799], types=["sms"])  # one outside the list
        assert [made.phone] == [
            e.phone
            for e in await client.stoplist.search(
                field="type", operator="=", value="sms", list_id=target.id
            ).collect()
        ]
        assert [made.phone] == [
            e.phone
            for e in await client.stoplist.search(
                field="type", operator="=", value="sms", contact_group_id=target.id
            ).collect()
        ]
        with pytest.raises(bsg_async.InvalidRequestError, match="pass lists= or groups="):
            client.contacts.list(lists=[1], groups=[1])
        await client.contacts.delete_many(list_ids=[target.id])
        assert [] == await client.contacts.list(lists=[target.id]).collect()


async def test_forgetting_async_says_what_to_write(
    client: bsg_async.Client, served: EmulatorServer
) -> None:
    """`await list()` and `for c in list()`: a TypeError naming `async for` and `.collect()`."""
    paginator: Any = client.contacts.list()
    bulk: Any = client.contacts.get_many([1, 2])
    for thing in (paginator, bulk):
        with pytest.raises(TypeError, match=r"is not awaited: iterate with `async for"):
            await thing
        with pytest.raises(TypeError, match=r"\.collect\(\)`; a plain `for` cannot wait"):
            for _ in thing:
                pass
    assert [] == served.fake.request_times  # nothing was sent
    assert CONTACTS == len(await client.contacts.list().collect())


async def test_https_to_a_plain_http_port_says_so_and_is_not_retried(
    served: EmulatorServer,
) -> None:
    """https:// to the emulator's plain-http port: one attempt, a message naming the scheme."""
    url = served.base_url.replace("http://", "https://")
    async with bsg_async.Client(DEFAULT_KEY, base_url=url, retry_backoff=0.01) as client:
        with pytest.raises(bsg_async.APIConnectionError) as info:
            await client.contacts.get(1)
    assert 0 == info.value.retries_taken
    assert "does not speak TLS (plain http?): check the base URL's scheme" in str(info.value)
    assert [] == served.fake.request_times


async def test_nothing_listening_asks_whether_the_server_runs() -> None:
    """A port where nothing listens: retried, then a message naming host, port and base_url."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    async with bsg_async.Client(DEFAULT_KEY, base_url=url, retry_backoff=0.01) as client:
        with pytest.raises(bsg_async.APIConnectionError) as info:
            await client.contacts.get(1)
    assert 3 == info.value.retries_taken
    assert f"is the server running at 127.0.0.1:{port}? check base_url" in str(info.value)


async def test_bad_arguments_name_the_parameter_used_and_cut_long_values(
    client: bsg_async.Client, served: EmulatorServer
) -> None:
    """groups=123 is named groups (not lists); a 300-character value is not echoed whole."""
    contacts: Any = client.contacts
    with pytest.raises(bsg_async.InvalidRequestError, match=r"^groups must be a collection"):
        await contacts.create(phone=61401629754, groups=123)
    with pytest.raises(bsg_async.InvalidRequestError, match=r"^lists must be a collection"):
        await contacts.create(phone=61401629754, lists=123)
    with pytest.raises(bsg_async.InvalidRequestError) as info:
        await client.lists.create(name="x" * 300)
    message = str(info.value)
    assert "xxxxxxxxxx...(cut, 300 long)" in message
    assert len(message) < 160
    assert [] == served.fake.request_times


FRESH_NOTEBOOK = textwrap.dedent(
    """
    import gc, sys, warnings
    import anyio
    import bsg_async
    from bsg_async.testing import DEFAULT_KEY

    async def main() -> None:
        gc.disable()
        for cell in range(3):
            client = bsg_async.Client(DEFAULT_KEY, base_url=sys.argv[1])
            await client.contacts.list(page_size=15, limit=60, prefetch=4).collect()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                del client
            await anyio.sleep(0.5)  # the loop runs: the close it was handed happens
            print(len(caught), flush=True)
            sys.stdin.readline()  # the test counts the server's connections meanwhile

    anyio.run(main, backend=sys.argv[2])
    """
)


def test_the_first_client_of_a_fresh_process_is_closed_when_dropped(
    served: EmulatorServer, anyio_backend: str
) -> None:
    """In a new interpreter (a new notebook kernel), three re-run cells leave 0 sockets each.

    The first client of a process used to stay alive until the garbage
    collector ran: its construction imported httpcore (and trio), whose
    import leaves cycles holding every calling frame.
    """
    left = []
    with subprocess.Popen(
        [sys.executable, "-c", FRESH_NOTEBOOK, served.base_url, anyio_backend],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        for _ in range(3):
            assert "1" == process.stdout.readline().strip()  # UnclosedClientWarning
            deadline = time.monotonic() + 5
            while served.open_connections and time.monotonic() < deadline:
                time.sleep(0.01)
            left.append(served.open_connections)
            process.stdin.write("\n")
            process.stdin.flush()
        assert 0 == process.wait(timeout=30)
    assert [0, 0, 0] == left
