"""Traces and metrics of a few calls, printed to the console (the ``otel`` extra).

Run it against the embedded emulator (no network, no key needed)::

    pip install "bsg-async[otel,emulator]" opentelemetry-sdk
    python -m examples.otel_console

Each call prints an operation span (``bsg.contacts.get``) and its HTTP
attempt spans (``GET /api/contacts/{id}``); the metrics follow at the end.
"""

from __future__ import annotations

import anyio
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import bsg_async
from bsg_async.testing import DEFAULT_KEY, FakeBSG


async def main(base_url: str, tracer_provider: TracerProvider, meters: MeterProvider) -> None:
    """A traced block of the application, with two SDK calls inside it."""
    tracer = trace.get_tracer("example", tracer_provider=tracer_provider)
    async with bsg_async.Client(
        DEFAULT_KEY,
        base_url=base_url,
        tracer_provider=tracer_provider,
        meter_provider=meters,
    ) as client:
        with tracer.start_as_current_span("nightly sync"):  # the SDK's spans nest under it
            created = await client.contacts.create(phone=61401629754)
            await client.contacts.get(created.id)


def run() -> None:
    """Serve the emulator, make the calls, print what was recorded."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
    meters = MeterProvider(metric_readers=[reader])
    with FakeBSG().serve() as server:
        anyio.run(main, server.base_url, tracer_provider, meters)
    meters.shutdown()  # prints the metrics once more, at exit
    tracer_provider.shutdown()


if __name__ == "__main__":
    run()
