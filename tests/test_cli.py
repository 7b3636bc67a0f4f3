"""The bsg-async command, run through its entry point against the loopback emulator."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bsg_async import cli
from bsg_async.cli import _jobs
from bsg_async.cli._progress import Progress
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=0).serve() as running:
        monkeypatch.setenv("BSG_API_KEY", DEFAULT_KEY)
        monkeypatch.setenv("BSG_BASE_URL", running.base_url)
        monkeypatch.setenv("BSG_PROGRESS", "plain")
        yield running


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_jsonl_equals_the_emulator(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exporting 10,000 contacts gives exactly the emulator's contacts, fields and lists."""
    server.fake.seed_contacts(10_000)
    code, out, err = run(capsys, "contacts", "export")
    rows = [json.loads(line) for line in out.splitlines()]
    expected = [
        {
            "id": c["id"],
            "phone": c["phone"],
            "lists": c["groups"],
            "fields": {str(k): v for k, v in c["fields"].items()},
        }
        for c in server.fake.contacts.values()
    ]
    assert (0, expected) == (
        code,
        [{k: r[k] for k in ("id", "phone", "lists", "fields")} for r in rows],
    )
    assert "export: 100%|" in err
    assert "| 10,000/10,000 [" in err
    assert "exported 10000 contacts" in err


def test_export_csv_has_field_columns(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """CSV export to a file: one column per custom field, lists joined by ';'."""
    server.fake.seed_contacts(40)
    target = tmp_path / "contacts.csv"
    code, out, _ = run(capsys, "contacts", "export", "--format", "csv", "-o", str(target))
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    field = next(iter(server.fake.fields.values()))
    first = next(iter(server.fake.contacts.values()))
    assert (0, "", 40) == (code, out, len(rows))
    assert first["fields"][field["id"]] == rows[0][f"field:{field['id']}:{field['name']}"]
    assert str(first["groups"][0]) == rows[0]["lists"]


def write_rows(path: Path, phones: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "Name"])
        for number, phone in enumerate(phones):
            writer.writerow([phone, f"Person {number}"])


def test_import_creates_valid_rows_and_rejects_the_rest(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Valid rows are created once; bad phones and duplicates go to the rejects file."""
    fake = server.fake
    fake.seed_contacts(1)
    field_id = next(iter(fake.fields))
    existing = next(iter(fake.contacts.values()))["phone"]
    source = tmp_path / "people.csv"
    phones = ["61401629750", "not-a-phone", "61401629751", "123", "+61401629752", str(existing)]
    write_rows(source, phones)
    code, out, err = run(
        capsys,
        "--json",
        "contacts",
        "import",
        str(source),
        "--field-map",
        f"Name={field_id}",
    )
    created = {c["phone"]: c for c in fake.contacts.values() if c["phone"] != existing}
    assert 1 == code
    assert {61401629750, 61401629751, 61401629752} == set(created)
    assert "Person 0" == created[61401629750]["fields"][field_id]
    with _jobs.rejects_path(source).open() as handle:
        rejects = list(csv.DictReader(handle))
    assert [("3", ""), ("5", ""), ("7", "422")] == [(r["row"], r["http_status"]) for r in rejects]
    assert (
        "invalid phone: phone must be digits in international form (country code first,"
        " an optional leading +), got 'not-a-phone'"
    ) == rejects[0]["reason"]
    assert "9 to 15 digits" in rejects[1]["reason"]
    assert "Phone number is already exist in contact book" == rejects[2]["reason"]
    assert {"created": 3, "existing": 0, "skipped": 0, "rejected": 3} == json.loads(out)
    assert "rejected rows:" in err


def test_interrupted_import_resumes_without_duplicates(
    server: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C half way, then the same command again: every row created exactly once."""
    fake = server.fake
    source = tmp_path / "big.csv"
    phones = [str(61_400_000_000 + n) for n in range(400)]
    write_rows(source, phones)
    real_settle = _jobs._settle
    settled = 0

    async def interrupting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal settled
        settled += 1
        if settled == 150:
            raise KeyboardInterrupt
        return await real_settle(*args, **kwargs)

    monkeypatch.setattr(_jobs, "_settle", interrupting)
    code, _, err = run(capsys, "contacts", "import", str(source), "--concurrency", "8")
    assert 1 == code
    assert "interrupted" in err
    first_run = len(fake.contacts)
    assert 149 <= first_run < 400
    monkeypatch.setattr(_jobs, "_settle", real_settle)
    code, _, err = run(capsys, "contacts", "import", str(source), "--concurrency", "8")
    assert 0 == code
    stored = [c["phone"] for c in fake.contacts.values()]
    assert sorted(int(p) for p in phones) == sorted(stored)
    journal = [json.loads(line) for line in _jobs.journal_path(source).read_text().splitlines()]
    final = {entry["row"]: entry["status"] for entry in journal}
    assert 400 == len(final)
    assert set(final.values()) <= {"created", "exists"}
    assert "done in an earlier run 149" in err


def test_lists_fields_and_stoplist_commands(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Everyday list, field and stop-list management through the CLI."""
    code, out, _ = run(capsys, "--json", "lists", "create", "Newsletter")
    list_id = json.loads(out)[0]["id"]
    assert 0 == code
    code, out, _ = run(capsys, "lists", "list")
    assert "Newsletter" in out.splitlines()[1]
    code, out, _ = run(capsys, "--json", "fields", "create", "City", "--type", "text")
    field_id = json.loads(out)[0]["id"]
    code, out, _ = run(capsys, "--json", "fields", "list")
    assert [("City", "text")] == [(f["name"], f["type"]) for f in json.loads(out)]
    code, out, _ = run(capsys, "--json", "stoplist", "add", "61401629754", "--type", "viber")
    entry = json.loads(out)[0]
    assert (61401629754, True, False) == (entry["phone"], entry["viber"], entry["sms"])
    code, out, _ = run(capsys, "stoplist", "export", "--format", "csv")
    assert "61401629754" in out
    assert 0 == run(capsys, "stoplist", "remove", str(entry["id"]), "--type", "viber")[0]
    assert 0 == run(capsys, "fields", "delete", str(field_id))[0]
    assert 0 == run(capsys, "lists", "delete", str(list_id))[0]
    assert ({}, {}) == (server.fake.fields, server.fake.stoplist)


def test_exit_codes(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 for usage errors, 3 for a rejected key; the key is never printed."""
    with pytest.raises(SystemExit) as info:
        cli.main(["contacts", "export", "--format", "xml"])
    assert 2 == info.value.code
    assert 2 == run(capsys, "contacts", "import", "/no/such/file.csv")[0]
    assert 2 == run(capsys, "contacts", "import", "x.csv", "--field-map", "oops")[0]
    monkeypatch.setenv("BSG_API_KEY", "live_wrong_SECRET_key")
    code, out, err = run(capsys, "-v", "lists", "list")
    assert 3 == code
    assert "authentication failed" in err
    assert "live_wrong_SECRET_key" not in out + err


def test_key_is_not_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    """There is no --api-key option (it would land in shell history)."""
    with pytest.raises(SystemExit) as info:
        cli.main(["--api-key", "live_x", "lists", "list"])
    assert 2 == info.value.code


def test_import_reads_the_phone_column_in_any_case(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A header 'Phone' (as spreadsheets write it) and phones written with + and spaces."""
    source = tmp_path / "people.csv"
    source.write_text("Phone,City\n+61 401 629 750,Kyiv\n61401629751,Lviv\n", encoding="utf-8")
    code, _, err = run(capsys, "contacts", "import", str(source))
    assert 0 == code
    assert {61401629750, 61401629751} == {c["phone"] for c in server.fake.contacts.values()}
    assert "created 2" in err


def test_import_without_a_phone_column_stops_before_any_request(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No phone column: exit 2 at once, naming the columns found and --field-map; nothing sent."""
    source = tmp_path / "people.csv"
    source.write_text("Mobile,Name\n61401629750,Ann\n", encoding="utf-8")
    code, _, err = run(capsys, "contacts", "import", str(source))
    assert 2 == code
    assert "has no 'phone' column; columns found: 'Mobile', 'Name'" in err
    assert "--field-map COLUMN=FIELD_ID" in err
    assert 0 == sum(n for name, n in server.fake.stats.items() if name.startswith("route:"))
    assert not _jobs.journal_path(source).exists()


def test_import_help_lists_the_expected_columns(capsys: pytest.CaptureFixture[str]) -> None:
    """`contacts import --help` says which columns the file needs."""
    with pytest.raises(SystemExit):
        cli.main(["contacts", "import", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "a 'phone' column (any case" in out
    assert "--field-map COLUMN=FIELD_ID" in out


def test_interrupted_export_leaves_no_file_that_looks_complete(
    server: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C mid-export: no output file, no part file, and a message saying exactly that."""
    server.fake.seed_contacts(2_000)
    target = tmp_path / "contacts.jsonl"
    real_record = _jobs.contact_record
    seen = 0

    def interrupting(contact: Any) -> dict[str, Any]:
        nonlocal seen
        seen += 1
        if seen == 700:
            raise KeyboardInterrupt
        return real_record(contact)

    monkeypatch.setattr(_jobs, "contact_record", interrupting)
    code, _, err = run(capsys, "contacts", "export", "-o", str(target))
    assert 1 == code
    assert [] == list(tmp_path.iterdir())
    assert f"{target} was not written" in err
    assert "export from the start" in err
    monkeypatch.setattr(_jobs, "contact_record", real_record)
    code, _, _ = run(capsys, "contacts", "export", "-o", str(target))
    assert (0, 2_000) == (code, len(target.read_text().splitlines()))
    assert [target] == list(tmp_path.iterdir())


@pytest.fixture
def bar_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A clock for tqdm's bars that moves only when the test moves it."""
    now = [1000.0]
    monkeypatch.setattr("tqdm.std.time", lambda: now[0])
    return now


def test_progress_shows_no_rate_before_a_few_seconds(
    bar_clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first lines show counts only; rate and time left appear after 3 s of data."""
    monkeypatch.setenv("BSG_PROGRESS", "plain")
    out = io.StringIO()
    progress = Progress("export", total=1_000, stream=out)
    progress.advance(2)
    bar_clock[0] += 0.5
    assert f"export:   0%|1{' ' * 53}| 2/1,000 [00:00<?, ? contacts/s]" == progress.line()
    bar_clock[0] += 4.5
    progress.advance(398)
    assert (
        f"export:  40%|{'#' * 18}8{' ' * 28}| 400/1,000 [00:05<00:07, 80 contacts/s]"
        == progress.line()
    )
    bar_clock[0] += 5.0
    progress.advance(600)
    progress.finish()
    assert [
        f"export:   0%|{' ' * 54}| 0/1,000 [00:00<?, ? contacts/s]",
        f"export:  40%|{'#' * 18}8{' ' * 28}| 400/1,000 [00:05<00:07, 80 contacts/s]",
        f"export: 100%|{'#' * 44}| 1,000/1,000 [00:10<00:00, 100 contacts/s]",
    ] == out.getvalue().splitlines()


def test_progress_on_a_terminal_redraws_one_line(
    bar_clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the bar redraws in place (carriage returns) and ends with one newline."""
    monkeypatch.delenv("BSG_PROGRESS", raising=False)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    progress = Progress("import", total=3, stream=out, unit="rows")
    for _ in range(3):
        bar_clock[0] += 1.0
        progress.advance()
    progress.finish()
    drawn = out.getvalue()
    assert (True, 1, "\n") == (drawn.count("\r") >= 2, drawn.count("\n"), drawn[-1])
    assert drawn.rstrip().rsplit("\r", 1)[-1].endswith("| 3/3 [00:03<00:00, 1.0 rows/s]")


@pytest.mark.parametrize("how", ["off", "without tqdm"])
def test_export_without_a_bar_still_says_what_it_did(
    server: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """BSG_PROGRESS=off, or tqdm not installed: no bar, the same rows and summary."""
    server.fake.seed_contacts(30)
    if how == "off":
        monkeypatch.setenv("BSG_PROGRESS", "off")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)
        monkeypatch.delitem(sys.modules, "bsg_async.cli._bar", raising=False)
    code, out, err = run(capsys, "contacts", "export")
    assert (0, 30, "exported 30 contacts\n") == (code, len(out.splitlines()), err)
