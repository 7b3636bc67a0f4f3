"""OpenTelemetry traces and metrics over a loopback socket, on asyncio and trio.

Each test gives its client a tracer provider with an in-memory exporter and
a meter provider with an in-memory reader (no global state). Run by the
``tests`` session; ``tests_minimal`` runs without OpenTelemetry installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import bsg_async
from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG
from tests.helpers import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def served() -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=5).serve() as running:
        yield running


class Recorded:
    """A tracer and a meter provider that keep what they are given."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], float]]]:
        """Each metric's points as (attributes, value or sum)."""
        found: dict[str, list[tuple[dict[str, Any], float]]] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.sum  # type: ignore[union-attr]
                        found.setdefault(metric.name, []).append(
                            (dict(point.attributes or {}), value)
                        )
        return found


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def client_for(server: EmulatorServer, recorded: Recorded, **options: Any) -> bsg_async.Client:
    return bsg_async.Client(
        DEFAULT_KEY,
        base_url=server.base_url,
        trust_env=False,
        tracer_provider=recorded.tracer_provider,
        meter_provider=recorded.meter_provider,
        **options,
    )


async def test_one_call_paced_retried_and_replayed_is_one_span_with_its_attempts(
    served: EmulatorServer,
) -> None:
    """Rate-limited, retried after a 503, replayed after a 401: one operation, three attempts."""
    fake = served.fake
    recorded = Recorded()
    first = min(fake.contacts)
    clock = FakeClock()
    async with client_for(served, recorded, clock=clock, rate_limit=2.0) as client:
        await client.contacts.get(first)  # the login, and the bucket's only turn
        recorded.exporter.clear()
        fake.answer_next(503, b'{"message": "Service Unavailable"}')
        fake.advance(fake.token_ttl + 1)  # the token the client holds now answers 401
        contact = await client.contacts.get(first)
    assert first == contact.id
    spans = recorded.spans()
    operations = [span for span in spans if span.name == "bsg.contacts.get"]
    assert 1 == len(operations)
    operation = operations[0]
    children = sorted(
        (
            span
            for span in spans
            if span.parent and span.parent.span_id == operation.context.span_id
        ),
        key=lambda span: span.start_time or 0,
    )
    # The login after the 401 is an exchange of its own, in its place.
    assert [
        "GET /api/contacts/{id}",
        "GET /api/contacts/{id}",
        "POST /api/auth/login",
        "GET /api/contacts/{id}",
    ] == [span.name for span in children]
    attempts = [span for span in children if span.name.startswith("GET")]
    assert [503, 401, 200] == [attrs_of(span)["http.response.status_code"] for span in attempts]
    assert [1, 2, 3] == [attrs_of(span)["bsg.attempt"] for span in attempts]
    assert (SpanKind.CLIENT, SpanKind.CLIENT) == (operation.kind, attempts[0].kind)
    assert "/api/contacts/{id}" == attrs_of(attempts[0])["url.template"]
    assert "503" == attrs_of(attempts[0])["error.type"]
    attributes = attrs_of(operation)
    assert (2, 3, False) == (
        attributes["bsg.retries_taken"],
        attributes["bsg.attempts"],
        attributes["bsg.may_have_been_applied"],
    )
    assert attributes["bsg.wait.rate_limit"] > 0  # waited for its turn at 2 per second
    assert ["retry after HTTP 503", "replay after 401", "login"] == [
        event.name for event in operation.events
    ]
    metrics = recorded.metrics()
    assert {
        ("contacts.get", "200"): 2,
        ("contacts.get", "503"): 1,
        ("contacts.get", "401"): 1,
    } == {
        (point["bsg.operation"], point["http.response.status_code"]): value
        for point, value in metrics["bsg.client.requests"]
        if point["bsg.operation"] != "auth"
    }
    assert [({"bsg.retry.cause": "HTTP 503"}, 1)] == metrics["bsg.client.retries"]
    assert sorted([({"bsg.auth": "login"}, 2)]) == sorted(metrics["bsg.client.auth"])
    assert [({}, 0)] == metrics["bsg.client.in_flight"]
    assert 1 == len(metrics["bsg.client.wait.rate_limit"])


async def test_traceparent_reaches_the_server_and_no_attribute_holds_personal_data(
    served: EmulatorServer,
) -> None:
    """Each attempt sends its own span's traceparent; no phone, id, key or token in a span."""
    fake = served.fake
    recorded = Recorded()
    async with client_for(served, recorded) as client:
        created = await client.contacts.create(phone=61401629754, fields=None)
        await client.contacts.get(created.id)
        token = client._core.stack.auth._token.reveal()  # type: ignore[union-attr]
    spans = recorded.spans()
    attempt_ids = {
        format(span.context.span_id, "016x")
        for span in spans
        if span.name.startswith(("GET ", "POST "))
    }
    sent = {
        re.fullmatch(r"00-[0-9a-f]{32}-([0-9a-f]{16})-[0-9a-f]{2}", value)
        for value in fake.traceparents
    }
    assert None not in sent
    assert attempt_ids == {match.group(1) for match in sent if match}
    assert {"bsg.contacts.create", "bsg.contacts.get"} <= {span.name for span in spans}
    secrets = (DEFAULT_KEY, token, "61401629754", str(created.id))
    for span in spans:
        texts = [span.name, *map(str, (span.attributes or {}).values())]
        texts += [event.name for event in span.events]
        for text in texts:
            for secret in secrets:
                assert secret not in text, (span.name, text)


async def test_a_failed_call_says_why_on_its_span(served: EmulatorServer) -> None:
    """A 404: the operation span has error.type and an error status."""
    recorded = Recorded()
    async with client_for(served, recorded) as client:
        with pytest.raises(bsg_async.NotFoundError):
            await client.contacts.get(max(served.fake.contacts) + 1)
    (operation,) = [span for span in recorded.spans() if span.name == "bsg.contacts.get"]
    assert "NotFoundError" == attrs_of(operation)["error.type"]
    assert "ERROR" == operation.status.status_code.name


def test_the_console_example_prints_the_sdks_spans_and_metrics() -> None:
    """examples/otel_console.py runs against the emulator and prints both kinds of span."""
    root = Path(__file__).parent.parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "examples.otel_console"],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    ).stdout
    for name in ('"bsg.contacts.create"', '"bsg.contacts.get"', '"POST /api/contacts"'):
        assert f'"name": {name}' in out
    assert '"name": "bsg.client.requests"' in out
    assert DEFAULT_KEY not in out


_WEB_TRACE = """
import asyncio, json
import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

from examples.fastapi_app import app, lifespan

async def main():
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            answer = await http.get("/contacts/{contact_id}", headers={{"traceparent": "{parent}"}})
            assert answer.status_code == 200, answer.text

asyncio.run(main())
print(json.dumps([
    [span.name, format(span.context.trace_id, "032x"),
     span.parent and format(span.parent.span_id, "016x"), format(span.context.span_id, "016x")]
    for span in exporter.get_finished_spans()
]))
"""


def test_one_trace_from_the_web_request_through_the_sdk_to_bsg(served: EmulatorServer) -> None:
    """The FastAPI example continues the caller's trace; the SDK's spans and BSG's are in it."""
    trace_id, caller = "ab" * 16, "cd" * 8
    contact_id = min(served.fake.contacts)
    code = _WEB_TRACE.format(contact_id=contact_id, parent=f"00-{trace_id}-{caller}-01")
    env = {**os.environ, "BSG_API_KEY": DEFAULT_KEY, "BSG_BASE_URL": served.base_url}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).parent.parent.parent,
    ).stdout
    rows = json.loads(out)
    spans = {name: (trace, parent, own) for name, trace, parent, own in rows}
    parents = {own: (name, parent) for name, _, parent, own in rows}
    assert {"GET", "bsg.contacts.get", "GET /api/contacts/{id}"} <= set(spans)
    assert {trace_id} == {trace for trace, _, _ in spans.values()}
    assert caller == spans["GET"][1]  # the service's span continues the caller's
    assert spans["bsg.contacts.get"][2] == spans["GET /api/contacts/{id}"][1]
    ancestors, at = [], spans["bsg.contacts.get"][1]
    while at in parents:  # up from the SDK's span to the caller's
        name, at = parents[at]
        ancestors.append(name)
    assert ("GET", caller) == (ancestors[-1], at)  # FastAPI's own spans may sit between
    assert any(trace_id in value for value in served.fake.traceparents)  # it reached BSG


async def test_a_bulk_call_is_the_parent_of_its_items(served: EmulatorServer) -> None:
    """create_many of 3 contacts: one bsg.contacts.create_many span over three creates."""
    recorded = Recorded()
    phones = [61401629761, 61401629762, 61401629763]
    async with client_for(served, recorded) as client:
        created = await client.contacts.create_many(
            [{"phone": phone} for phone in phones]
        ).collect()
    assert phones == [contact.phone for contact in created]
    spans = recorded.spans()
    (bulk,) = [span for span in spans if span.name == "bsg.contacts.create_many"]
    creates = [span for span in spans if span.name == "bsg.contacts.create"]
    assert 3 == len(creates)
    assert {bulk.context.span_id} == {span.parent.span_id for span in creates if span.parent}
    assert 3 == attrs_of(bulk)["bsg.items"]
