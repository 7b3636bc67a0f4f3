"""The CLI's jobs, written against the public SDK only."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

import bsg_async
from bsg_async.cli._progress import Progress

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from typing_extensions import Self

__all__ = [
    "Outcome",
    "export_contacts",
    "export_stoplist",
    "import_contacts",
    "journal_path",
    "rejects_path",
]

CONTACT_COLUMNS = ["id", "phone", "created_at", "hlr_status", "hlr_last_check", "lists"]
# A spreadsheet runs a cell starting with one of these as a formula (CSV
# injection): such cells are written with a leading ' (OWASP's advice), which
# the import takes off again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Columns of a CSV export holding a custom field: "field:<id>:<name>".
FIELD_COLUMN = re.compile(r"field:(\d{1,19}):")


def formula_safe(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula (non-text values as they are)."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def formula_restored(value: str) -> str:
    """A cell as it was before ``formula_safe``."""
    if value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


class _SafeWriter:
    """A ``csv.DictWriter`` whose text cells are formula-safe (unless ``raw``)."""

    def __init__(self, out: TextIO, columns: list[str], *, raw: bool) -> None:
        self._writer = csv.DictWriter(out, fieldnames=columns)
        self._raw = raw

    def writeheader(self) -> None:
        self.writerow({column: column for column in self._writer.fieldnames})

    def writerow(self, row: dict[str, Any]) -> None:
        if not self._raw:
            row = {key: formula_safe(value) for key, value in row.items()}
        self._writer.writerow(row)


# Requests kept in flight by an export (a sliding window; see Paginator.stream).
EXPORT_WINDOW = 8


def _when(value: object) -> str:
    return "" if value is None else str(value)


def contact_record(contact: bsg_async.Contact) -> dict[str, Any]:
    """A contact as exported: its JSON form, with its lists as ids."""
    record = contact.to_dict()
    record["lists"] = [group["id"] for group in record.pop("groups")]
    return record


async def export_contacts(
    client: bsg_async.Client, out: TextIO, *, lists: list[int], fmt: str, raw: bool = False
) -> int:
    """Stream every contact (of ``lists``, when given) to ``out``; return the count.

    CSV cells that a spreadsheet would run as a formula get a leading ``'``
    unless ``raw``; JSON Lines are written exactly.
    """
    writer: _SafeWriter | None = None
    field_columns: dict[int, str] = {}
    if fmt == "csv":
        fields = await client.fields.list()
        field_columns = {f.id: f"field:{f.id}:{f.name}" for f in fields}
        columns = CONTACT_COLUMNS + list(field_columns.values()) + ["other_fields"]
        writer = _SafeWriter(out, columns, raw=raw)
        writer.writeheader()
    count = 0
    json_out = JsonOut(out, array=fmt == "json")
    paginator = client.contacts.list(lists=lists or None, prefetch=EXPORT_WINDOW)
    with Progress("export") as progress:
        async with paginator.stream() as pages:
            async for page in pages:
                count += _write_contacts(page, json_out, writer, field_columns)
                progress.set_total(page.total)
                progress.advance(len(page.items))
    if writer is None:
        json_out.close()
    return count


class JsonOut:
    """Records written as JSON Lines, or as one JSON array (``array``)."""

    def __init__(self, out: TextIO, *, array: bool) -> None:
        self._out = out
        self._array = array
        self._written = 0

    def write(self, record: dict[str, Any]) -> None:
        """One record."""
        text = json.dumps(record, ensure_ascii=False)
        if self._array:
            text = ("[\n" if not self._written else ",\n") + text
        else:
            text += "\n"
        self._out.write(text)
        self._written += 1

    def close(self) -> None:
        """End the array (an empty one when nothing was written)."""
        if self._array:
            self._out.write("[]\n" if not self._written else "\n]\n")


def _write_contacts(
    page: bsg_async.Page[bsg_async.Contact],
    out: JsonOut,
    writer: _SafeWriter | None,
    field_columns: dict[int, str],
) -> int:
    """Write one page of contacts as JSON or CSV rows; return how many."""
    for contact in page.items:
        record = contact_record(contact)
        if writer is None:
            out.write(record)
            continue
        row = {k: record[k] for k in CONTACT_COLUMNS}
        row["lists"] = ";".join(str(i) for i in record["lists"])
        others = {}
        for key, value in contact.fields.items():
            if key in field_columns:
                row[field_columns[key]] = value
            else:  # a field created while exporting: kept, not dropped
                others[str(key)] = value
        row["other_fields"] = json.dumps(others) if others else ""
        writer.writerow(row)
    return len(page.items)


async def export_stoplist(
    client: bsg_async.Client, out: TextIO, *, kind: str | None, fmt: str, raw: bool = False
) -> int:
    """Stream the stop list to ``out``; return the count (CSV formula-safe unless ``raw``)."""
    columns = ["id", "phone", "created_at", "sms_stoplist", "viber_stoplist", "rcs_stoplist"]
    writer = _SafeWriter(out, columns, raw=raw) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    count = 0
    json_out = JsonOut(out, array=fmt == "json")
    with Progress("stoplist export", unit="entries") as progress:
        async for page in client.stoplist.list(type=kind, prefetch=4).pages():
            progress.set_total(page.total)
            for entry in page.items:
                record = entry.to_dict()
                if writer is None:
                    json_out.write(record)
                else:
                    writer.writerow(record)
                count += 1
            progress.advance(len(page.items))
    if writer is None:
        json_out.close()
    return count


# ---------------------------------------------------------------- import


def journal_path(source: Path) -> Path:
    """Where an import records each row's outcome (makes reruns resume)."""
    return source.with_name(source.name + ".journal.jsonl")


def rejects_path(source: Path) -> Path:
    """Where an import writes the rows it could not create."""
    return source.with_name(source.name + ".rejects.csv")


class Outcome:
    """Counts of an import run.

    Attributes:
        created: Rows this run created.
        existing: Rows whose create was in flight when an earlier run
            stopped and had been applied (found by a lookup).
        skipped: Rows an earlier run had already imported (same values).
        rejected: Rows refused (bad input, or by the API).
        repeated: Rows repeating an earlier row's phone in the same file.
        changed: Rows whose phone an earlier run imported with other values
            (an import does not change existing contacts).
    """

    def __init__(self) -> None:
        self.created = 0
        self.existing = 0
        self.skipped = 0
        self.rejected = 0
        self.repeated = 0
        self.changed = 0

    @property
    def incomplete(self) -> int:
        """Rows not imported as the file says: rejected, repeated or changed."""
        return self.rejected + self.repeated + self.changed

    def summary(self) -> str:
        """One line for humans."""
        text = (
            f"created {self.created}, already there {self.existing}, "
            f"done in an earlier run {self.skipped}, rejected {self.rejected}"
        )
        if self.repeated:
            text += f", repeated in the file {self.repeated}"
        if self.changed:
            text += f", changed since an earlier run {self.changed}"
        return text


def read_rows(source: Path, field_map: dict[str, int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, contact mapping) for each input row; bad rows carry an error.

    CSV cells lose the leading ``'`` an export put before a formula
    character, and an export's ``field:<id>:<name>`` columns go into their
    custom fields, so an exported file imports unchanged.
    """
    if source.suffix.lower() == ".jsonl":
        with source.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    yield number, {"error": "not valid JSON", "raw": line.strip()}
                    continue
                yield number, _from_mapping(data, field_map)
        return
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is read as such.
    with source.open(encoding="utf-8-sig", newline="") as handle:
        for number, data in enumerate(csv.DictReader(handle), start=2):
            cells = {
                key: formula_restored(value) if isinstance(value, str) else value
                for key, value in data.items()
            }
            yield number, _from_mapping(cells, field_map, field_columns=True)


IMPORT_COLUMNS_HELP = (
    "CSV: a header row with a 'phone' column (any case; numbers such as 61401629754 or"
    ' "+61 401 629 754"); other columns go into custom fields with --field-map'
    " COLUMN=FIELD_ID. JSONL: one object per line with 'phone' and optionally 'fields'"
    " ({field id: value})."
)


def _column(row: dict[str, Any], name: str) -> object:
    """A row's value for a column, matching its name without regard to case or spaces."""
    if name in row:
        return row[name]
    wanted = name.strip().lower()
    for key, value in row.items():
        if isinstance(key, str) and key.strip().lower() == wanted:
            return value
    return None


def check_columns(source: Path, field_map: dict[str, int]) -> str | None:
    """What is wrong with a CSV file's header for an import, or None.

    Checked before the first request, so a file with the wrong columns
    fails at once instead of row by row.
    """
    if source.suffix.lower() == ".jsonl":
        return None
    with source.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    found = {column.strip().lower() for column in header}
    missing = [name for name in ["phone", *field_map] if name.strip().lower() not in found]
    if not missing:
        return None
    shown = ", ".join(repr(column) for column in header) or "none (the file is empty)"
    return (
        f"{source} has no {', '.join(repr(m) for m in missing)} column; columns found:"
        f" {shown}. {IMPORT_COLUMNS_HELP}"
    )


def _field_columns(row: dict[Any, Any]) -> dict[int, str]:
    """Values of an export's ``field:<id>:<name>`` columns, by field id."""
    values: dict[int, str] = {}
    for column, value in row.items():
        found = FIELD_COLUMN.match(column) if isinstance(column, str) else None
        if found and value not in {None, ""}:
            values[int(found.group(1))] = str(value)
    return values


def _from_mapping(
    data: object, field_map: dict[str, int], *, field_columns: bool = False
) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {"error": "row is not an object", "raw": data}
    raw = dict(data)
    try:
        phone = bsg_async.parse_phone(_column(raw, "phone"))
    except bsg_async.InvalidRequestError as exc:
        return {"error": f"invalid phone: {exc}", "raw": raw}
    fields: dict[int, str] = {}
    nested = raw.get("fields")
    if isinstance(nested, dict):
        for key, value in nested.items():
            if str(key).isdigit() and value is not None:
                fields[int(key)] = str(value)
    if field_columns:
        fields.update(_field_columns(raw))
    for column, field_id in field_map.items():
        value = _column(raw, column)
        if value not in {None, ""}:
            fields[field_id] = str(value)
    return {"phone": phone, "fields": fields, "raw": raw}


def row_key(phone: int, fields: dict[int, str]) -> str:
    """What identifies a row across runs: its phone and values, not its position."""
    content = json.dumps([phone, sorted((str(k), v) for k, v in fields.items())])
    return hashlib.sha256(content.encode()).hexdigest()[:24]


# Seconds between fsyncs of the journal (and one at the end of a run): a line
# is flushed to the operating system at once, which a killed process cannot
# undo; fsync also keeps it through a crash of the machine.
FSYNC_EVERY = 1.0
_DONE = frozenset({"created", "exists"})


class Journal:
    """An import's outcomes, one JSON line each, keyed by row content.

    Before a row's create can go out, a ``sending`` line is written for it;
    its outcome follows. A row whose last line is ``sending`` was in flight
    when a run stopped: its create may have been applied.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last: dict[str, dict[str, Any]] = {}  # key -> its last entry
        self.done_phones: dict[int, dict[str, Any]] = {}
        self.in_doubt: set[str] = set()
        self._handle: TextIO | None = None
        self._synced = 0.0

    def load(self) -> list[str]:
        """Read the journal of earlier runs; return warnings about what was unreadable."""
        warnings: list[str] = []
        if not self.path.exists():
            return warnings
        data = self.path.read_bytes()
        complete, _, torn = data.rpartition(b"\n")
        if torn.strip():
            # The process was killed mid-write: drop the torn tail, so the
            # next line starts on a line of its own.
            with self.path.open("r+b") as handle:
                handle.truncate(len(complete) + 1 if complete else 0)
            warnings.append(
                f"{self.path}: ignored a torn last line (an earlier run was killed while"
                " writing it); its row is imported again, or settled by a lookup"
            )
        bad = 0
        for line in complete.decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(entry, dict):
                self._remember(entry)
        if bad:
            warnings.append(f"{self.path}: ignored {bad} unreadable line(s)")
        self.in_doubt = {k for k, e in self.last.items() if e.get("status") == "sending"}
        return warnings

    def _remember(self, entry: dict[str, Any]) -> None:
        key = entry.get("key")
        if isinstance(key, str):
            self.last[key] = entry
        # Journals of earlier versions keyed rows by position and have no
        # key: their done rows are known by phone only.
        phone = entry.get("phone")
        if entry.get("status") in _DONE and isinstance(phone, int):
            self.done_phones[phone] = entry

    def done(self, key: str) -> bool:
        """Whether an earlier run imported a row with exactly this content."""
        return self.last.get(key, {}).get("status") in _DONE

    def __enter__(self) -> Self:
        self._handle = self.path.open("a", encoding="utf-8")
        self._synced = time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._sync()
            self._handle.close()
            self._handle = None

    def write(self, entry: dict[str, Any]) -> None:
        """Append one line, flushed at once and fsynced at least every second."""
        assert self._handle is not None  # noqa: S101
        self._handle.write(json.dumps(entry) + "\n")
        self._handle.flush()
        self._remember(entry)
        if time.monotonic() - self._synced >= FSYNC_EVERY:
            self._sync()

    def _sync(self) -> None:
        assert self._handle is not None  # noqa: S101
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._synced = time.monotonic()


def _drafts(
    todo: list[tuple[int, dict[str, Any], str]], lists: list[int], journal: Journal
) -> Iterator[dict[str, Any]]:
    """The rows to create, as the SDK reads them; each is journaled as sending first."""
    for number, row, key in todo:
        journal.write({"row": number, "key": key, "phone": row["phone"], "status": "sending"})
        yield {"phone": row["phone"], "lists": lists, "fields": row["fields"]}


def _rejected(number: int, reason: str, status: str = "rejected") -> dict[str, Any]:
    return {"row": number, "status": status, "reason": reason, "http": None}


def _sort_rows(
    rows: list[tuple[int, dict[str, Any]]],
    journal: Journal,
    outcome: Outcome,
    report: dict[int, dict[str, Any]],
) -> list[tuple[int, dict[str, Any], str]]:
    """The rows to send; every other row is counted, and reported when not imported."""
    todo: list[tuple[int, dict[str, Any], str]] = []
    first_row: dict[int, int] = {}
    for number, row in rows:
        if "error" in row:
            report[number] = _rejected(number, row["error"])
            outcome.rejected += 1
            continue
        phone = row["phone"]
        first = first_row.setdefault(phone, number)
        if first != number:
            report[number] = _rejected(
                number, f"repeats row {first} (the same phone): not sent", "repeated"
            )
            outcome.repeated += 1
            continue
        key = row_key(phone, row["fields"])
        earlier = journal.done_phones.get(phone)
        if journal.done(key) or (earlier is not None and "key" not in earlier):
            outcome.skipped += 1
        elif earlier is not None:
            report[number] = _rejected(
                number,
                f"an earlier run imported this phone with other values (contact"
                f" {earlier.get('id')}); an import does not change existing contacts",
                "changed",
            )
            outcome.changed += 1
        else:
            todo.append((number, row, key))
    return todo


async def import_contacts(
    client: bsg_async.Client,
    source: Path,
    *,
    lists: list[int],
    concurrency: int,
    field_map: dict[str, int],
) -> Outcome:
    """Create the file's contacts; journal every outcome; write the rejects file.

    Rows are known across runs by their content (phone and values), so a
    rerun imports exactly the rows no earlier run imported: a changed or
    reordered file imports its new rows, a row whose phone an earlier run
    imported with other values is reported, and a row whose create was in
    flight when a run stopped is settled by a lookup (created once). A phone
    repeated in the file is sent once, for its first row.
    """
    journal = Journal(journal_path(source))
    for warning in journal.load():
        sys.stderr.write(f"warning: {warning}\n")
    outcome = Outcome()
    rows = list(read_rows(source, field_map))
    report: dict[int, dict[str, Any]] = {}
    todo = _sort_rows(rows, journal, outcome, report)
    with Progress("import", total=len(rows), unit="rows") as progress, journal:
        progress.advance(len(rows) - len(todo))
        results = client.contacts.create_many(
            _drafts(todo, lists, journal), concurrency=concurrency, return_exceptions=True
        )
        index = 0
        async for result in results:
            number, row, key = todo[index]
            index += 1
            entry = await _settle(
                client, number, row["phone"], result, in_doubt=key in journal.in_doubt
            )
            entry["key"] = key
            journal.write(entry)
            progress.advance()
            if entry["status"] == "created":
                outcome.created += 1
            elif entry["status"] == "exists":
                outcome.existing += 1
            else:
                outcome.rejected += 1
                report[number] = entry
    _write_rejects(source, rows, report)
    return outcome


async def _settle(
    client: bsg_async.Client,
    number: int,
    phone: int,
    result: bsg_async.Contact | bsg_async.BSGError,
    *,
    in_doubt: bool,
) -> dict[str, Any]:
    """The journal entry for one row's result.

    A phone that already exists is a rejected row, unless this row's create
    was in flight when an earlier run stopped (``in_doubt``): then it is that
    create, found by a lookup and recorded as done, with its id.
    """
    if isinstance(result, bsg_async.Contact):
        return {"row": number, "status": "created", "id": result.id, "phone": result.phone}
    duplicate = (
        isinstance(result, bsg_async.UnprocessableEntityError) and "already exist" in result.message
    )
    if duplicate and in_doubt:
        match = await client.contacts.find_by_phone(phone)
        if match is not None:
            return {"row": number, "status": "exists", "id": match.id, "phone": phone}
    status = result.status_code if isinstance(result, bsg_async.APIStatusError) else None
    reason = result.message if isinstance(result, bsg_async.APIStatusError) else str(result)
    return {"row": number, "status": "rejected", "reason": reason, "http": status, "phone": phone}


def _write_rejects(
    source: Path, rows: list[tuple[int, dict[str, Any]]], report: dict[int, dict[str, Any]]
) -> None:
    """The rows this run did not import (rejected, repeated, changed), or no file."""
    path = rejects_path(source)
    if not report:
        path.unlink(missing_ok=True)
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = _SafeWriter(handle, ["row", "reason", "http_status", "data"], raw=False)
        writer.writeheader()
        for number, row in rows:
            entry = report.get(number)
            if entry is None:
                continue
            writer.writerow(
                {
                    "row": number,
                    "reason": entry["reason"],
                    "http_status": entry.get("http") or "",
                    "data": json.dumps(row.get("raw"), ensure_ascii=False),
                }
            )


def print_table(rows: list[dict[str, Any]], columns: list[str], out: TextIO | None = None) -> None:
    """A plain aligned table for small listings."""
    out = out or sys.stdout
    widths = {c: max([len(c)] + [len(_when(r.get(c))) for r in rows]) for c in columns}
    out.write("  ".join(c.ljust(widths[c]) for c in columns).rstrip() + "\n")
    out.writelines(
        "  ".join(_when(row.get(c)).ljust(widths[c]) for c in columns).rstrip() + "\n"
        for row in rows
    )
