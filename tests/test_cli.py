"""The bsg-async command, run through its entry point against the loopback emulator."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bsg_async import cli
from bsg_async.cli import _jobs
from bsg_async.cli._progress import Progress
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG, Faults


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
    assert {
        "created": 3,
        "existing": 0,
        "skipped": 0,
        "rejected": 3,
        "repeated": 0,
        "changed": 0,
    } == json.loads(out)
    assert "rows not imported, with the reason:" in err


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


def import_file(
    capsys: pytest.CaptureFixture[str], source: Path, *extra: str
) -> tuple[int, dict[str, int], str]:
    """Run an import with --json: the exit code, the counts and stderr."""
    code, out, err = run(capsys, "--json", "contacts", "import", str(source), *extra)
    return code, json.loads(out), err


def phones_in(fake: FakeBSG) -> list[int]:
    return sorted(c["phone"] for c in fake.contacts.values())


def test_repeated_phones_in_a_file_are_sent_once(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """[a, a, a, b, b] with b in the book: created 1, repeated 2 + 1, rejected 1, one POST each."""
    fake = server.fake
    a, b = 61401629754, 61401629755
    fake.seed_contacts(0)
    source = tmp_path / "leads.csv"
    write_rows(source, [str(b)])
    assert 0 == import_file(capsys, source)[0]
    fake.advance(2.0)  # past BSG's duplicate-request window
    other = tmp_path / "again.csv"
    write_rows(other, [str(a), f"+{a}", str(a), str(b), str(b)])
    code, counts, err = import_file(capsys, other)
    assert 1 == code
    assert (1, 3, 1) == (counts["created"], counts["repeated"], counts["rejected"])
    assert "created 1, already there 0, done in an earlier run 0, rejected 1" in err
    assert "repeated in the file 3" in err
    assert [a, b] == phones_in(fake)
    assert 1 + 2 == fake.stats["route:contact_create"]
    with _jobs.rejects_path(other).open() as handle:
        reasons = [(r["row"], r["reason"]) for r in csv.DictReader(handle)]
    assert [
        ("3", "repeats row 2 (the same phone): not sent"),
        ("4", "repeats row 2 (the same phone): not sent"),
        ("5", "Phone number is already exist in contact book"),
        ("6", "repeats row 5 (the same phone): not sent"),
    ] == reasons
    created = [
        json.loads(line)
        for line in _jobs.journal_path(other).read_text().splitlines()
        if json.loads(line)["status"] == "created"
    ]
    assert [a] == [entry["phone"] for entry in created]


def test_a_new_file_under_the_same_name_imports_its_rows(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The journal knows rows by content: new phones import, a row added on top too."""
    fake = server.fake
    source = tmp_path / "leads.csv"
    first = [str(61_400_000_000 + n) for n in range(20)]
    write_rows(source, first)
    assert (0, 20) == (import_file(capsys, source)[0], import_file(capsys, source)[1]["skipped"])
    second = [str(61_500_000_000 + n) for n in range(20)]
    write_rows(source, second)
    code, counts, _ = import_file(capsys, source)
    assert (0, 20, 0) == (code, counts["created"], counts["skipped"])
    write_rows(source, ["61600000000", *second])  # a row inserted at the top
    code, counts, _ = import_file(capsys, source)
    assert (0, 1, 20) == (code, counts["created"], counts["skipped"])
    assert sorted(int(p) for p in [*first, *second, "61600000000"]) == phones_in(fake)


def test_a_row_whose_values_changed_is_reported_not_skipped(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same phone with another value than an earlier run imported: reported, exit 1."""
    field_id = server.fake.account.add_field("Name", "text", None, is_visible=True).id
    source = tmp_path / "leads.csv"
    source.write_text("phone,Name\n61401629754,Ann\n61401629755,Bob\n", encoding="utf-8")
    assert 0 == import_file(capsys, source, "--field-map", f"Name={field_id}")[0]
    source.write_text("phone,Name\n61401629754,Anna\n61401629755,Bob\n", encoding="utf-8")
    code, counts, err = import_file(capsys, source, "--field-map", f"Name={field_id}")
    assert (1, 1, 1, 0) == (code, counts["changed"], counts["skipped"], counts["created"])
    assert "changed since an earlier run 1" in err
    with _jobs.rejects_path(source).open() as handle:
        (reject,) = csv.DictReader(handle)
    assert "2" == reject["row"]
    assert "an earlier run imported this phone with other values (contact" in reject["reason"]


def test_a_torn_journal_line_is_ignored_and_the_import_resumes(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A run killed mid-write leaves half a line: warned about, dropped, the rest resumes."""
    source = tmp_path / "leads.csv"
    phones = [str(61_400_000_000 + n) for n in range(10)]
    write_rows(source, phones)
    assert 0 == import_file(capsys, source)[0]
    journal = _jobs.journal_path(source)
    lines = journal.read_text().splitlines(keepends=True)
    # As if killed while writing the 6th outcome: every row was journaled as
    # sending, 5 outcomes made it, the 6th is half a line.
    sixth = [n for n, line in enumerate(lines) if '"created"' in line][5]
    journal.write_text("".join(lines[:sixth]) + lines[sixth][:40], encoding="utf-8")
    code, counts, err = import_file(capsys, source)
    assert "ignored a torn last line" in err
    # The 5 in doubt were made by the first run: found by lookup, not created again.
    assert (0, 5, 5, 0) == (code, counts["skipped"], counts["existing"], counts["created"])
    assert sorted(int(p) for p in phones) == phones_in(server.fake)
    assert journal.read_text().endswith("\n")
    assert all(json.loads(line) for line in journal.read_text().splitlines())


def test_a_rerun_keeps_reporting_rows_still_rejected(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Rows rejected by the API stay rejected on a rerun, with their reasons and data."""
    fake = server.fake
    fake.seed_contacts(1)
    existing = next(iter(fake.contacts.values()))["phone"]
    source = tmp_path / "leads.csv"
    write_rows(source, ["61401629754", str(existing), "123"])
    first = import_file(capsys, source)
    fake.advance(2.0)
    second = import_file(capsys, source)
    assert (1, 2) == (first[0], first[1]["rejected"])
    assert (1, 2, 1) == (second[0], second[1]["rejected"], second[1]["skipped"])
    with _jobs.rejects_path(source).open() as handle:
        rejects = list(csv.DictReader(handle))
    assert ["3", "4"] == [r["row"] for r in rejects]
    assert "Phone number is already exist in contact book" == rejects[0]["reason"]
    assert "Person 1" in rejects[0]["data"]


def test_a_csv_with_a_byte_order_mark_imports(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Excel's "CSV UTF-8" starts with a byte-order mark: the Phone column is still found."""
    source = tmp_path / "excel.csv"
    source.write_bytes(b"\xef\xbb\xbfPhone,Name\r\n61401629754,Ann\r\n")
    code, counts, _ = import_file(capsys, source)
    assert (0, 1) == (code, counts["created"])
    assert [61401629754] == phones_in(server.fake)


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


def test_sigterm_during_an_export_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    """SIGTERM mid-export (a job runner stopping it): exit 1, old file intact, no .part.

    Once the export has asked for its first page, the next page it asks for
    is held by the emulator (until a request that never comes): the export
    cannot finish before the signal, however busy the machine.
    """
    fake = FakeBSG(seed_contacts=40_000, faults=Faults(latency=0.2))
    target = tmp_path / "contacts.csv"
    target.write_text("the previous export\n", encoding="utf-8")
    part = target.with_name(target.name + ".part")
    with fake.serve() as served:
        env = {
            **os.environ,
            "BSG_API_KEY": DEFAULT_KEY,
            "BSG_BASE_URL": served.base_url,
            "BSG_PROGRESS": "off",
        }
        command = [sys.executable, "-m", "bsg_async.cli", "contacts", "export", "--format"]
        process = subprocess.Popen(
            [*command, "csv", "-o", str(target)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not fake.stats["route:contacts_list"]:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the export never asked for a page"
                time.sleep(0.005)
            fake.hold_next("contacts_list", until="stoplist_detach")
            while not (part.exists() and part.stat().st_size > 0):
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the export never started writing"
                time.sleep(0.01)
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=60)
        finally:
            process.kill()
    assert 1 == process.returncode, err
    assert "interrupted: the export did not finish" in err
    assert "Traceback" not in err
    assert "the previous export\n" == target.read_text(encoding="utf-8")
    assert not part.exists()


def test_a_part_left_by_a_killed_export_is_removed_and_named(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A .part from an export killed outright (SIGKILL): the next export says so and replaces it."""
    server.fake.seed_contacts(30)
    target = tmp_path / "contacts.jsonl"
    part = target.with_name(target.name + ".part")
    part.write_text('{"id": 1}\n', encoding="utf-8")
    code, _, err = run(capsys, "contacts", "export", "-o", str(target))
    assert 0 == code
    assert f"removed {part}, left incomplete by an export that was killed" in err
    assert 30 == len(target.read_text(encoding="utf-8").splitlines())
    assert not part.exists()


FORMULAS = [
    "=1+1",
    "+61401629754",
    "-2",
    "@SUM(A1:A9)",
    '=HYPERLINK("http://evil.example","click")',
    "=cmd|' /C calc'!A0",
    "\tindented",
    "\rreturn",
    "plain, with a comma",
    "'quoted already",
]


def test_csv_export_neutralises_formulas_and_imports_back_unchanged(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Formula cells get a leading ' in CSV (not JSONL, not with --raw); the import takes it off."""
    fake = server.fake
    field_id = fake.account.add_field("Note", "text", None, is_visible=True).id
    for number, text in enumerate(FORMULAS):
        fake.account.add_contact(61_401_629_700 + number, [], {field_id: text})
    target = tmp_path / "contacts.csv"
    assert 0 == run(capsys, "contacts", "export", "--format", "csv", "-o", str(target))[0]
    with target.open(encoding="utf-8", newline="") as handle:
        cells = [row[f"field:{field_id}:Note"] for row in csv.DictReader(handle)]
    expected = [f"'{t}" if t[0] in "=+-@\t\r" else t for t in FORMULAS]
    assert expected == cells
    raw = tmp_path / "raw.csv"
    assert 0 == run(capsys, "contacts", "export", "--format", "csv", "--raw", "-o", str(raw))[0]
    with raw.open(encoding="utf-8", newline="") as handle:
        assert FORMULAS == [row[f"field:{field_id}:Note"] for row in csv.DictReader(handle)]
    _, out, _ = run(capsys, "contacts", "export")
    assert FORMULAS == [json.loads(line)["fields"][str(field_id)] for line in out.splitlines()]
    # The CSV export imports into another book as it was.
    for contact_id in list(fake.contacts):
        fake.account.remove_contact(contact_id)
    code, _, err = run(capsys, "contacts", "import", str(target))
    assert 0 == code, err
    imported = {c["phone"]: c["fields"][field_id] for c in fake.contacts.values()}
    assert FORMULAS == [imported[61_401_629_700 + n] for n in range(len(FORMULAS))]


@pytest.mark.parametrize(
    ("name", "extra", "first_char"),
    [
        ("out.csv", [], "i"),
        ("out.jsonl", [], "{"),
        ("out.json", [], "["),
        ("out.txt", ["--format", "csv"], "i"),
    ],
)
def test_export_format_follows_the_file_extension(
    server: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    extra: list[str],
    first_char: str,
) -> None:
    """-o contacts.csv writes CSV (it wrote JSON Lines); .json one array; --format wins."""
    server.fake.seed_contacts(20)
    target = tmp_path / name
    assert 0 == run(capsys, "contacts", "export", "-o", str(target), *extra)[0]
    text = target.read_text(encoding="utf-8")
    assert first_char == text[0]
    if name.endswith(".json"):
        assert 20 == len(json.loads(text))
    if name.endswith(".csv") or extra:
        assert 20 == len(list(csv.DictReader(io.StringIO(text))))


def test_an_unknown_extension_needs_format_before_any_request(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """-o contacts.xlsx without --format: exit 2, nothing sent, nothing written."""
    target = tmp_path / "contacts.xlsx"
    code, _, err = run(capsys, "contacts", "export", "-o", str(target))
    assert 2 == code
    assert "cannot tell the format of" in err
    assert "--format jsonl|csv|json" in err
    assert 0 == sum(n for k, n in server.fake.stats.items() if k.startswith("route:"))
    assert not target.exists()


def test_an_export_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    """`bsg-async contacts export | head -1`: one line out, no traceback, exit 141."""
    with FakeBSG(seed_contacts=5000).serve() as served:
        env = {
            **os.environ,
            "BSG_API_KEY": DEFAULT_KEY,
            "BSG_BASE_URL": served.base_url,
            "BSG_PROGRESS": "off",
        }
        done = subprocess.run(  # noqa: S602 - the pipe is the point
            f"'{sys.executable}' -m bsg_async.cli contacts export | head -1;"
            " echo status ${PIPESTATUS[0]} >&2",
            shell=True,
            executable="/bin/bash",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert 1 == len(done.stdout.splitlines())
    assert "Traceback" not in done.stderr
    assert "status 141" in done.stderr


def test_emulator_serve_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bsg_async.testing serve --help`: every option has a description."""
    from bsg_async.testing.__main__ import main as emulator  # noqa: PLC0415

    with pytest.raises(SystemExit):
        emulator(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, words in [
        ("--host", "address to listen on"),
        ("--port", "port (default: 8765)"),
        ("--seed-contacts", "contacts generated at start"),
        ("--seed", "seed of the generated data"),
        ("--token-ttl", "seconds a login's JWT lives"),
        ("--fault-rate", "share of requests answered with an injected fault"),
    ]:
        assert f"{option} " in text
        assert words in text
