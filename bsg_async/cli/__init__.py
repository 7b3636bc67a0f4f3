"""The ``bsg-async`` command: bulk export, import and stop-list work.

Exit codes: 0 success, 1 partial failure (rows not imported, or
interrupted), 2 usage error, 3 authentication failure, 141 when the reader
of the output went away (``| head``). Data goes to stdout (or ``-o``),
progress and messages to stderr. The API key comes from ``BSG_API_KEY`` or a
prompt, never from the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio

import bsg_async
from bsg_async.cli import _jobs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

__all__ = ["main"]

OK, PARTIAL, USAGE, AUTH = 0, 1, 2, 3
# As a command killed by SIGPIPE: the reader of its output went away.
BROKEN_PIPE = 141


class UsageError(Exception):
    """A mistake in the command line that argparse cannot see."""


FORMATS = ["jsonl", "csv", "json"]
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
_FORMAT_HELP = (
    "jsonl, csv or json (one array); default: from the -o file's extension (.jsonl, .csv,"
    " .json), JSON Lines on stdout"
)
_RAW_HELP = (
    "CSV: write cells exactly as stored; by default a cell starting with = + - @ tab or"
    " carriage return gets a leading ' so that spreadsheets do not run it as a formula"
    " (the import takes it off again)"
)


if TYPE_CHECKING:
    from typing import TypeAlias

    _Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # noqa: SLF001


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bsg-async",
        description="Export, import and manage BSG contacts and stop lists.",
        epilog="The API key is read from BSG_API_KEY (or asked for); never pass it as an option.",
    )
    parser.add_argument("--base-url", help="API root (default: $BSG_BASE_URL or BSG's)")
    parser.add_argument("--rate-limit", type=float, help="requests per second")
    parser.add_argument("--max-retries", type=int, default=5)
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    groups = parser.add_subparsers(dest="group", required=True)

    _contacts_parser(groups)
    _stoplist_parser(groups)
    _catalogue_parsers(groups)
    emulator = groups.add_parser("serve-emulator", help="serve the BSG emulator on loopback")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--seed-contacts", type=int, default=1000)
    return parser


def _contacts_parser(groups: _Subparsers) -> None:
    contacts = groups.add_parser("contacts", help="export or import contacts").add_subparsers(
        dest="action", required=True
    )
    export = contacts.add_parser("export", help="stream every contact")
    export.add_argument(
        "--list",
        type=int,
        action="append",
        default=[],
        dest="lists",
        help="only contacts of this list (repeatable)",
    )
    export.add_argument("--format", choices=FORMATS, help=_FORMAT_HELP)
    export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    export.add_argument("--raw", action="store_true", help=_RAW_HELP)
    load = contacts.add_parser(
        "import",
        help="create contacts from a CSV or JSONL file",
        description="Create contacts from a file. " + _jobs.IMPORT_COLUMNS_HELP,
    )
    load.add_argument("file", type=Path)
    load.add_argument(
        "--list",
        type=int,
        action="append",
        default=[],
        dest="lists",
        help="add every contact to this list (repeatable)",
    )
    load.add_argument("--concurrency", type=int, default=16)
    load.add_argument(
        "--field-map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD_ID",
        help="put a CSV column into a custom field (repeatable)",
    )


def _stoplist_parser(groups: _Subparsers) -> None:
    stop = groups.add_parser("stoplist", help="the stop list").add_subparsers(
        dest="action", required=True
    )
    stop_export = stop.add_parser("export", help="stream the stop list")
    stop_export.add_argument("--type", choices=["sms", "viber", "rcs", "whatsapp"])
    stop_export.add_argument("--format", choices=FORMATS, help=_FORMAT_HELP)
    stop_export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    stop_export.add_argument("--raw", action="store_true", help=_RAW_HELP)
    stop_add = stop.add_parser("add", help="add phones")
    stop_add.add_argument("phones", nargs="*", help='e.g. 61401629754 or "+61 401 629 754"')
    stop_add.add_argument("--file", type=Path, help="one phone per line")
    stop_add.add_argument(
        "--type", action="append", dest="types", choices=["sms", "viber", "rcs", "whatsapp"]
    )
    stop_remove = stop.add_parser("remove", help="remove entries by entry id")
    stop_remove.add_argument("ids", nargs="+", type=int)
    stop_remove.add_argument(
        "--type", action="append", dest="types", choices=["sms", "viber", "rcs", "whatsapp"]
    )


def _catalogue_parsers(groups: _Subparsers) -> None:
    """Lists and custom fields: list, create, delete."""
    lists = groups.add_parser("lists", help="contact lists").add_subparsers(
        dest="action", required=True
    )
    lists.add_parser("list", help="show every list")
    list_create = lists.add_parser("create", help="create a list")
    list_create.add_argument("name")
    list_create.add_argument("--description")
    list_delete = lists.add_parser("delete", help="delete a list (its contacts stay)")
    list_delete.add_argument("id", type=int)

    fields = groups.add_parser("fields", help="custom fields").add_subparsers(
        dest="action", required=True
    )
    fields.add_parser("list", help="show every custom field")
    field_create = fields.add_parser("create", help="create a custom field")
    field_create.add_argument("name")
    field_create.add_argument("--type", choices=["text", "date", "number"], default="text")
    field_create.add_argument("--description")
    field_delete = fields.add_parser("delete", help="delete custom fields")
    field_delete.add_argument("ids", nargs="+", type=int)


def _api_key() -> str:
    key = os.environ.get("BSG_API_KEY")
    if key:
        return key
    if sys.stdin.isatty():
        return getpass.getpass("BSG API key: ")
    raise UsageError("set BSG_API_KEY (the key is never taken as a command-line option)")


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """Standard output, or a file that appears only once it is complete.

    The data goes to ``FILE.part``, renamed to ``FILE`` at the end; on any
    failure or interruption the part is removed and ``FILE`` is left as it was.
    """
    if path is None:
        yield sys.stdout
        return
    part = path.with_name(path.name + ".part")
    if part.exists():
        # Left by an export that was killed (SIGKILL, a power cut): never data.
        part.unlink()
        _say(f"removed {part}, left incomplete by an export that was killed")
    try:
        with part.open("w", encoding="utf-8", newline="") as handle:
            yield handle
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(path)


def _field_map(items: list[str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for item in items:
        column, _, field_id = item.rpartition("=")
        if not column or not field_id.isdigit():
            raise UsageError(f"--field-map takes COLUMN=FIELD_ID, got {item!r}")
        mapping[column] = int(field_id)
    return mapping


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def _show(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if args.json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
    else:
        _jobs.print_table(rows, columns)


async def _run(args: argparse.Namespace, client: bsg_async.Client) -> int:  # noqa: PLR0911
    if args.group == "contacts" and args.action == "export":
        with _output(args.output) as out:
            count = await _jobs.export_contacts(
                client, out, lists=args.lists, fmt=args.format, raw=args.raw
            )
        _say(f"exported {count} contacts")
        return OK
    if args.group == "contacts" and args.action == "import":
        return await _import(args, client)
    if args.group == "stoplist":
        return await _stoplist(args, client)
    if args.group == "lists":
        if args.action == "list":
            rows = [
                {
                    "id": g.id,
                    "name": g.name,
                    "items": g.items,
                    "stop_list_count": g.stop_list_count,
                    "default": g.default,
                    "description": g.description,
                }
                async for g in client.lists.list()
            ]
            _show(args, rows, ["id", "name", "items", "stop_list_count", "default", "description"])
            return OK
        if args.action == "create":
            group = await client.lists.create(name=args.name, description=args.description)
            _show(args, [{"id": group.id, "name": group.name}], ["id", "name"])
            return OK
        await client.lists.delete(args.id)
        _say(f"deleted list {args.id}")
        return OK
    if args.action == "list":
        rows = [
            {
                "id": f.id,
                "name": f.name,
                "type": None if f.type is None else f.type.value,
                "visible": f.is_visible,
                "description": f.description,
            }
            for f in await client.fields.list()
        ]
        _show(args, rows, ["id", "name", "type", "visible", "description"])
        return OK
    if args.action == "create":
        created = await client.fields.create(
            name=args.name, type=args.type, description=args.description
        )
        _show(args, [{"id": created.id, "name": created.name}], ["id", "name"])
        return OK
    await client.fields.delete(args.ids)
    _say(f"deleted fields {', '.join(map(str, args.ids))}")
    return OK


async def _import(args: argparse.Namespace, client: bsg_async.Client) -> int:
    if not args.file.exists():
        raise UsageError(f"no such file: {args.file}")
    field_map = _field_map(args.field_map)
    problem = _jobs.check_columns(args.file, field_map)
    if problem is not None:
        raise UsageError(problem)
    outcome = await _jobs.import_contacts(
        client,
        args.file,
        lists=args.lists,
        concurrency=args.concurrency,
        field_map=field_map,
    )
    _say(outcome.summary())
    if outcome.incomplete:
        _say(f"rows not imported, with the reason: {_jobs.rejects_path(args.file)}")
    if args.json:
        sys.stdout.write(json.dumps(vars(outcome)) + "\n")
    return PARTIAL if outcome.incomplete else OK


async def _stoplist(args: argparse.Namespace, client: bsg_async.Client) -> int:
    if args.action == "export":
        with _output(args.output) as out:
            count = await _jobs.export_stoplist(
                client, out, kind=args.type, fmt=args.format, raw=args.raw
            )
        _say(f"exported {count} stop-list entries")
        return OK
    types = args.types or ["sms"]
    if args.action == "add":
        phones = list(args.phones)
        if args.file is not None:
            lines = args.file.read_text(encoding="utf-8").splitlines()
            phones += [line for line in lines if line.strip()]
        if not phones:
            raise UsageError("no phones given")
        entries = await client.stoplist.add(phones, types=types)
        rows = [
            {"id": e.id, "phone": e.phone, "sms": e.sms_stoplist, "viber": e.viber_stoplist}
            for e in entries
        ]
        _show(args, rows, ["id", "phone", "sms", "viber"])
        return OK
    await client.stoplist.remove(args.ids, types=types)
    _say(f"removed {len(args.ids)} entries from {', '.join(types)}")
    return OK


def _serve_emulator(args: argparse.Namespace) -> int:
    from bsg_async.testing.__main__ import main as emulator  # noqa: PLC0415

    return emulator(["serve", "--port", str(args.port), "--seed-contacts", str(args.seed_contacts)])


def _interrupted(args: argparse.Namespace) -> str:
    """What an interruption of this command left behind, and what to do next."""
    if args.group not in {"contacts", "stoplist"} or args.action != "export":
        return "interrupted: what was done is kept; run the same command again to continue"
    output: Path | None = args.output
    if output is None:
        return "interrupted: the export did not finish; what was printed is incomplete"
    return (
        f"interrupted: the export did not finish, so {output} was not written (left as it"
        " was; nothing partial is kept); run the same command again to export from the start"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)  # exits with 2 on usage errors
    if args.verbose:
        logging.basicConfig(
            level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s", stream=sys.stderr
        )
    if args.group == "serve-emulator":
        return _serve_emulator(args)
    if getattr(args, "action", None) == "export":
        try:
            args.format = _export_format(args.format, args.output)
        except UsageError as exc:
            parser.print_usage(sys.stderr)
            _say(f"bsg-async: error: {exc}")
            return USAGE
    # SIGTERM (a job runner, `kill`) stops a command as Ctrl-C does: an export
    # removes its partial file, an import keeps its journal.
    previous = _on_sigterm(_as_ctrl_c)
    try:
        return _with_client(args, _run)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        _say(f"bsg-async: error: {exc}")
        return USAGE
    except KeyboardInterrupt:
        _say(_interrupted(args))
        return PARTIAL
    except BrokenPipeError:
        # The reader of our output went away (`| head -1`): stop quietly, as
        # command-line tools do; what is still buffered goes nowhere.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    finally:
        _on_sigterm(previous)


def _export_format(chosen: str | None, output: Path | None) -> str:
    """The export's format: ``--format``, else the output file's extension, else JSON Lines."""
    if chosen is not None:
        return chosen
    if output is None:
        return "jsonl"
    found = _EXTENSIONS.get(output.suffix.lower())
    if found is None:
        raise UsageError(
            f"cannot tell the format of {output} from its extension: name it .jsonl, .csv or"
            " .json, or pass --format jsonl|csv|json"
        )
    return found


def _as_ctrl_c(_signum: int, _frame: object) -> None:
    """Raise SIGINT instead, which the event loop turns into an orderly cancellation."""
    signal.raise_signal(signal.SIGINT)


def _on_sigterm(handler: Any) -> Any:  # noqa: ANN401 - whatever signal.signal takes
    """Install a SIGTERM handler (main thread only); return the one it replaced."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGTERM, handler)


def _with_client(
    args: argparse.Namespace,
    job: Callable[[argparse.Namespace, bsg_async.Client], Awaitable[int]],
) -> int:
    key = _api_key()

    async def run() -> int:
        try:
            async with bsg_async.Client(
                key,
                base_url=args.base_url,
                rate_limit=args.rate_limit,
                max_retries=args.max_retries,
            ) as client:
                return await job(args, client)
        except bsg_async.AuthenticationError as exc:
            _say(f"authentication failed: {exc.message}")
            return AUTH
        except bsg_async.InvalidRequestError as exc:
            raise UsageError(str(exc)) from None
        except bsg_async.BSGError as exc:
            _say(f"failed: {exc}")
            return PARTIAL

    # uvloop, when installed, makes the whole job 8-12% faster.
    uvloop = importlib.util.find_spec("uvloop") is not None
    result: int = anyio.run(run, backend_options={"use_uvloop": uvloop})
    return result


if __name__ == "__main__":
    sys.exit(main())
