"""What tracing costs per call: ``contacts.get`` in process, with and without OpenTelemetry.

Variants, interleaved round by round (answers from memory, so the SDK's own
work is all that is timed):

- ``off``: OpenTelemetry not importable (``sys.modules`` blocks it in a
  subprocess), the SDK does no tracing work at all;
- ``api``: ``opentelemetry-api`` installed, no provider set (the API's
  no-op tracer answers);
- ``noop``: an explicit ``NoOpTracerProvider`` and ``NoOpMeterProvider``;
- ``sdk``: the OpenTelemetry SDK with an in-memory span exporter and an
  in-memory metric reader (every span kept).

Run: python -m benchmarks.bench_telemetry [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CALLS = 2_000

_VARIANT = """
import sys, json, time
{block}
import anyio, bsg_async
from benchmarks._common import PrebuiltTransport

def providers():
{providers}

async def main():
    tracer_provider, meter_provider = providers()
    options = {{}}
    if tracer_provider is not None:
        options = dict(tracer_provider=tracer_provider, meter_provider=meter_provider)
    client = bsg_async.Client("live_bench", base_url="http://127.0.0.1:1/api",
                              transport=PrebuiltTransport(1000), **options)
    await client.contacts.get(1)
    times = []
    for _ in range({rounds}):
        started = time.perf_counter()
        for _ in range({calls}):
            await client.contacts.get(1)
        times.append((time.perf_counter() - started) / {calls})
    await client.aclose()
    print(json.dumps(times))

anyio.run(main)
"""

_PROVIDERS = {
    "off": "    return None, None",
    "api": "    return None, None",
    "noop": (
        "    from opentelemetry.metrics import NoOpMeterProvider\n"
        "    from opentelemetry.trace import NoOpTracerProvider\n"
        "    return NoOpTracerProvider(), NoOpMeterProvider()"
    ),
    "sdk": (
        "    from opentelemetry.sdk.metrics import MeterProvider\n"
        "    from opentelemetry.sdk.metrics.export import InMemoryMetricReader\n"
        "    from opentelemetry.sdk.trace import TracerProvider\n"
        "    from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "    from opentelemetry.sdk.trace.export.in_memory_span_exporter import"
        " InMemorySpanExporter\n"
        "    tracer_provider = TracerProvider()\n"
        "    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))\n"
        "    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])"
    ),
}


def _run(variant: str, rounds: int, calls: int) -> list[float]:
    block = 'sys.modules["opentelemetry"] = None' if variant == "off" else ""
    code = _VARIANT.format(block=block, providers=_PROVIDERS[variant], rounds=rounds, calls=calls)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    times: list[float] = json.loads(out)
    return times


def main(quick: bool) -> None:
    rounds, calls = (2, 200) if quick else (5, CALLS)
    results: dict[str, list[float]] = {name: [] for name in _PROVIDERS}
    for _ in range(1 if quick else 3):  # each variant in its own process, interleaved
        for name in _PROVIDERS:
            results[name] += _run(name, rounds, calls)
    base = statistics.median(results["off"])
    print(f"contacts.get in process, {calls} calls x {rounds} rounds, medians")
    for name, times in results.items():
        median = statistics.median(times)
        print(
            f"  {name:5s} {median * 1e6:7.1f} us/call  (+{(median - base) * 1e6:5.1f} us over off)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run (CI)")
    arguments = parser.parse_args()
    main(arguments.quick)
