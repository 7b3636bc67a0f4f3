"""The emulator against the Contacts family's OpenAPI description, over a real socket.

Schemathesis generates requests from the description, valid and invalid,
and checks every answer: never a 5xx, always the documented shape and
content type. By default the description is this project's model of the
family (``tests/contacts_openapi.py``, BSG's spec reconciled with the API's
documented behaviour); ``BSG_OPENAPI_SPEC=<path to BSG's one-api yaml>`` runs
the same cases from BSG's own file, restricted to the Contacts family.

The last test replays the SDK's own tour and checks every request it sent
against the description: the SDK speaks the API as documented.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import hypothesis
import jsonschema_rs
import pytest
import schemathesis
import yaml
from schemathesis import checks

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG
from tests import contacts_openapi

EXAMPLES = int(os.environ.get("BSG_CONFORMANCE_EXAMPLES", "40"))
FAMILY = re.compile(r"^/api/(auth/(login|refresh)|contacts|groups|stoplist)(/|$)")


class _SpecLoader(yaml.SafeLoader):  # type: ignore[misc]
    """JSON-like YAML: a bare ``=`` (an operator in BSG's file) and dates stay strings."""


_SpecLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_scalar)
_SpecLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _description() -> dict[str, Any]:
    source = os.environ.get("BSG_OPENAPI_SPEC")
    if not source:
        return contacts_openapi.build()
    document: dict[str, Any] = yaml.load(Path(source).read_text(encoding="utf-8"), _SpecLoader)  # noqa: S506 - a safe loader
    document["paths"] = {p: ops for p, ops in document["paths"].items() if FAMILY.match(p)}
    return contacts_openapi.reconcile(document)


DESCRIPTION = _description()
schema = schemathesis.openapi.from_dict(DESCRIPTION)


@pytest.fixture(scope="module")
def served() -> Iterator[EmulatorServer]:
    # No duplicate window: generated cases repeat themselves, and should
    # reach the handlers rather than the duplicate detection.
    fake = FakeBSG(seed_contacts=40, duplicate_window=0)
    with fake.serve() as server:
        yield server


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)
def test_generated_requests_get_documented_answers(case: Any, served: EmulatorServer) -> None:
    """Any generated request: no 5xx, a documented status, shape and content type."""
    base = served.base_url.removesuffix("/api")
    # A token per case: a generated refresh revokes the token it was sent with.
    token = served.fake.issue_token(ttl=86_400)
    served.fake.stats["conformance_cases"] += 1
    case.call_and_validate(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ],
    )


def test_no_handler_met_an_input_it_did_not_foresee(served: EmulatorServer) -> None:
    """After every generated case: no exception was turned into a 422 behind the scenes."""
    assert [] == [repr(exc) for exc in served.fake.unexpected]


# -------------------------------------------------------- the SDK's requests


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The description's operation for a concrete request path."""
    for template, operations in DESCRIPTION["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            literal = "{" not in template
            # A literal path (/contacts/search) wins over a template (/contacts/{id}).
            if literal or not any(
                t == path and method.lower() in ops for t, ops in DESCRIPTION["paths"].items()
            ):
                return template, operations[method.lower()]
    raise AssertionError(f"the SDK sent {method} {path}, which the description does not have")


def _violations(method: str, path: str, query: str, body: bytes) -> list[str]:
    template, operation = _operation(method, path)
    where = f"{method} {template}"
    problems: list[str] = []
    declared = {
        p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"
    }
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    for name, given in values.items():
        # search_fields[N] is documented by its first index.
        documented = re.sub(r"^search_fields\[\d+\]", "search_fields[0]", name)
        if documented not in declared:
            problems.append(f"{where}: undocumented query parameter {name}")
            continue
        param_schema = declared[documented]
        if param_schema.get("type") == "array":
            item_schema = param_schema["items"]
            instance: Any = [_typed(v, item_schema) for v in given]
        else:
            instance = _typed(given[-1], param_schema)
        problems += [f"{where}: {name}: {e}" for e in _errors(param_schema, instance)]
    request_body = operation.get("requestBody")
    if request_body is not None:
        body_schema = request_body["content"]["application/json"]["schema"]
        instance = yaml.safe_load(body) if body else None
        problems += [f"{where}: body: {e}" for e in _errors(body_schema, instance)]
    elif body:
        problems.append(f"{where}: a body where none is documented")
    return problems


def _typed(value: str, schema: dict[str, Any]) -> Any:
    if schema.get("type") == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _errors(schema: dict[str, Any], instance: Any) -> list[str]:
    return [error.message for error in jsonschema_rs.validator_for(schema).iter_errors(instance)]


class ShiftedClock(bsg_async.Clock):
    """The SDK's wall clock, moved forward by ``shift`` seconds."""

    shift = 0.0

    def time(self) -> float:
        return super().time() + self.shift


class RecordingBSG(FakeBSG):
    """An emulator that keeps every request it was sent."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen: list[tuple[str, str, str, bytes]] = []

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Any:
        self.seen.append((method, path, query, body))
        return super().handle(method, path, query, headers, body)


@pytest.mark.anyio
async def test_every_request_of_the_sdk_tour_is_documented() -> None:
    """Each request the SDK sends for all 25 operations matches the description."""
    fake = RecordingBSG(seed_contacts=30)
    clock = ShiftedClock()
    with fake.serve() as server:
        async with bsg_async.Client(DEFAULT_KEY, base_url=server.base_url, clock=clock) as client:
            await _tour(client)
            clock.shift = fake.token_ttl - 10  # inside the refresh margin, not expired
            await client.fields.list()
    assert 1 == fake.stats["refreshes"]
    operations = {_operation(method, path)[0] + " " + method for method, path, _, _ in fake.seen}
    assert 25 == len(operations)
    problems = [p for request in fake.seen for p in _violations(*request)]
    assert [] == problems


async def _tour(client: bsg_async.Client) -> None:
    """Every operation of the family, as a user would call it."""
    field = await client.fields.create(name="City", type="text", description="where")
    await client.fields.update(field.id, name="Town")
    await client.fields.list()
    group = await client.lists.create(name="Tour list", description="made by the tour")
    await client.lists.update(group.id, name="Tour list 2", default=False)
    await client.lists.get(group.id)
    await client.lists.list().collect()
    await client.lists.search(field="name", operator="like", value="Tour").collect()
    contact = await client.contacts.create(
        phone=61401629754, groups=[group.id], fields={field.id: "Kyiv"}
    )
    await client.contacts.update(contact.id, phone=61401629755, fields={field.id: "Lviv"})
    await client.contacts.get(contact.id)
    await client.contacts.list(groups=[group.id]).collect()
    await client.contacts.search(field="phone", operator="=", value=61401629755).collect()
    await client.contacts.search(where=[("id", ">", 1), (field.id, "like", "Lv")]).collect()
    others = [c.id async for c in client.contacts.list(limit=3)]
    await client.lists.attach(contact_ids=others, list_ids=[group.id])
    await client.lists.detach(contact_ids=others, list_ids=[group.id])
    entries = await client.stoplist.add([61401629755], types=["sms", "viber"])
    await client.stoplist.list(type="sms").collect()
    await client.stoplist.search(field="phone", operator="=", value=61401629755).collect()
    await client.stoplist.remove([entry.id for entry in entries], types=["sms", "viber"])
    await client.contacts.delete(contact.id)
    await client.contacts.delete_many(contact_ids=others[:2])
    await client.lists.delete(group.id)
    await client.fields.delete([field.id])
    await anyio.lowlevel.checkpoint()
