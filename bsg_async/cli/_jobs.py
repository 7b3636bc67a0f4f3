"""The CLI's jobs, written against the public SDK only."""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

import bsg_async
from bsg_async.cli._progress import Progress

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "Outcome",
    "export_contacts",
    "export_stoplist",
    "import_contacts",
    "journal_path",
    "rejects_path",
]

CONTACT_COLUMNS = ["id", "phone", "created_at", "hlr_status", "hlr_last_check", "lists"]
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
    client: bsg_async.Client, out: TextIO, *, lists: list[int], fmt: str
) -> int:
    """Stream every contact (of ``lists``, when given) to ``out``; return the count."""
    writer: csv.DictWriter[str] | None = None
    field_columns: dict[int, str] = {}
    if fmt == "csv":
        fields = await client.fields.list()
        field_columns = {f.id: f"field:{f.id}:{f.name}" for f in fields}
        columns = CONTACT_COLUMNS + list(field_columns.values()) + ["other_fields"]
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
    count = 0
    paginator = client.contacts.list(lists=lists or None, prefetch=EXPORT_WINDOW)
    with Progress("export") as progress:
        async with paginator.stream() as pages:
            async for page in pages:
                count += _write_contacts(page, out, writer, field_columns)
                progress.set_total(page.total)
                progress.advance(len(page.items))
    return count


def _write_contacts(
    page: bsg_async.Page[bsg_async.Contact],
    out: TextIO,
    writer: csv.DictWriter[str] | None,
    field_columns: dict[int, str],
) -> int:
    """Write one page of contacts as JSON lines or CSV rows; return how many."""
    for contact in page.items:
        record = contact_record(contact)
        if writer is None:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
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
    client: bsg_async.Client, out: TextIO, *, kind: str | None, fmt: str
) -> int:
    """Stream the stop list to ``out``; return the count."""
    columns = ["id", "phone", "created_at", "sms_stoplist", "viber_stoplist", "rcs_stoplist"]
    writer = csv.DictWriter(out, fieldnames=columns) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    count = 0
    with Progress("stoplist export", unit="entries") as progress:
        async for page in client.stoplist.list(type=kind, prefetch=4).pages():
            progress.set_total(page.total)
            for entry in page.items:
                record = entry.to_dict()
                if writer is None:
                    out.write(json.dumps(record) + "\n")
                else:
                    writer.writerow(record)
                count += 1
            progress.advance(len(page.items))
    return count


# ---------------------------------------------------------------- import


def journal_path(source: Path) -> Path:
    """Where an import records each row's outcome (makes reruns resume)."""
    return source.with_name(source.name + ".journal.jsonl")


def rejects_path(source: Path) -> Path:
    """Where an import writes the rows it could not create."""
    return source.with_name(source.name + ".rejects.csv")


class Outcome:
    """Counts of an import run."""

    def __init__(self) -> None:
        self.created = 0
        self.existing = 0
        self.skipped = 0
        self.rejected = 0

    def summary(self) -> str:
        """One line for humans."""
        return (
            f"created {self.created}, already there {self.existing}, "
            f"done in an earlier run {self.skipped}, rejected {self.rejected}"
        )


def read_rows(source: Path, field_map: dict[str, int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, contact mapping) for each input row; bad rows carry an error."""
    if source.suffix.lower() == ".jsonl":
        with source.open(encoding="utf-8") as handle:
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
    with source.open(encoding="utf-8", newline="") as handle:
        for number, data in enumerate(csv.DictReader(handle), start=2):
            yield number, _from_mapping(data, field_map)


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
    with source.open(encoding="utf-8", newline="") as handle:
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


def _from_mapping(data: object, field_map: dict[str, int]) -> dict[str, Any]:
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
    for column, field_id in field_map.items():
        value = _column(raw, column)
        if value not in {None, ""}:
            fields[field_id] = str(value)
    return {"phone": phone, "fields": fields, "raw": raw}


def _load_journal(path: Path) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    entry = json.loads(line)
                    done[entry["row"]] = entry
    return done


async def import_contacts(
    client: bsg_async.Client,
    source: Path,
    *,
    lists: list[int],
    concurrency: int,
    field_map: dict[str, int],
) -> Outcome:
    """Create the file's contacts; journal every outcome; write the rejects file.

    A row already journaled as created (or found) is skipped on a rerun. On a
    rerun, a row whose phone turns out to exist is looked up and journaled
    with that id (its create was in flight when the first run stopped), so
    resuming creates no duplicates; on a first run it is a rejected duplicate.
    """
    journal = journal_path(source)
    resuming = journal.exists()
    previous = _load_journal(journal)
    outcome = Outcome()
    rows = list(read_rows(source, field_map))
    with Progress("import", total=len(rows), unit="rows") as progress:
        todo: list[tuple[int, dict[str, Any]]] = []
        for number, row in rows:
            if previous.get(number, {}).get("status") in {"created", "exists"}:
                outcome.skipped += 1
                progress.advance()
            else:
                todo.append((number, row))

        valid = [(number, row) for number, row in todo if "error" not in row]
        with journal.open("a", encoding="utf-8") as log:

            def record(result: dict[str, Any]) -> None:
                log.write(json.dumps(result) + "\n")
                log.flush()
                previous[result["row"]] = result
                progress.advance()
                if result["status"] == "created":
                    outcome.created += 1
                elif result["status"] == "exists":
                    outcome.existing += 1
                else:
                    outcome.rejected += 1

            for number, row in todo:
                if "error" in row:
                    record(
                        {"row": number, "status": "rejected", "reason": row["error"], "http": None}
                    )
            drafts = (
                {"phone": row["phone"], "lists": lists, "fields": row["fields"]} for _, row in valid
            )
            results = client.contacts.create_many(
                drafts, concurrency=concurrency, return_exceptions=True
            )
            index = 0
            async for result in results:
                number, row = valid[index]
                index += 1
                record(await _settle(client, number, row["phone"], result, resuming=resuming))
    _write_rejects(source, rows, previous)
    return outcome


async def _settle(
    client: bsg_async.Client,
    number: int,
    phone: int,
    result: bsg_async.Contact | Exception,
    *,
    resuming: bool,
) -> dict[str, Any]:
    """The journal entry for one row's result.

    On a first run a phone that already exists is a rejected row (duplicate).
    On a rerun it may be this row's own create from the interrupted run, whose
    answer never reached the journal: it is recorded as done, with its id.
    """
    if isinstance(result, bsg_async.Contact):
        return {"row": number, "status": "created", "id": result.id, "phone": result.phone}
    duplicate = (
        isinstance(result, bsg_async.UnprocessableEntityError) and "already exist" in result.message
    )
    if duplicate and resuming:
        match = await client.contacts.find_by_phone(phone)
        if match is not None:
            return {"row": number, "status": "exists", "id": match.id, "phone": phone}
    status = result.status_code if isinstance(result, bsg_async.APIStatusError) else None
    reason = result.message if isinstance(result, bsg_async.APIStatusError) else str(result)
    return {"row": number, "status": "rejected", "reason": reason, "http": status}


def _write_rejects(
    source: Path, rows: list[tuple[int, dict[str, Any]]], journal: dict[int, dict[str, Any]]
) -> None:
    path = rejects_path(source)
    rejected = [(n, r) for n, r in rows if journal.get(n, {}).get("status") == "rejected"]
    if not rejected:
        path.unlink(missing_ok=True)
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "reason", "http_status", "data"])
        for number, row in rejected:
            entry = journal[number]
            writer.writerow(
                [
                    number,
                    entry["reason"],
                    entry.get("http") or "",
                    json.dumps(row.get("raw"), ensure_ascii=False),
                ]
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
