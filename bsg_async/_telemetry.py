"""OpenTelemetry traces and metrics, when ``opentelemetry-api`` is installed (the ``otel`` extra).

Nothing here imports OpenTelemetry until a client is made with it
installed; without it, :func:`telemetry` returns None and the SDK does no
tracing work at all. With it but no tracer or meter provider set, the API's
no-op objects answer (a few µs per call, measured in
``benchmarks/bench_telemetry.py``).

What is recorded (never an id, a phone, a field value, the key or a token):

- an operation span per call (``bsg.contacts.get``; kind CLIENT) with
  ``bsg.retries_taken``, ``bsg.attempts``, ``bsg.wait.rate_limit`` and
  ``bsg.wait.pause`` (seconds), ``bsg.may_have_been_applied`` and
  ``error.type`` on failure; logins, refreshes and 401 replays as events;
- an HTTP span per attempt under it, named ``{method} {url.template}``, with
  the HTTP client semantic conventions (``http.request.method``,
  ``url.template`` such as ``/api/contacts/{id}``, ``server.address``,
  ``server.port``, ``http.response.status_code``, ``error.type``) and
  ``bsg.attempt``; the W3C ``traceparent`` goes out with the request;
- metrics: ``bsg.client.requests`` (by operation and status),
  ``bsg.client.retries`` (by cause), ``bsg.client.rate_limited`` (429s),
  ``bsg.client.wait.rate_limit`` and ``bsg.client.wait.pause``
  (histograms, seconds), ``bsg.client.auth`` (logins and refreshes),
  ``bsg.client.in_flight`` (attempts on the wire), ``bsg.redis.duration``
  (round trips to a ``RedisCoordination``, histogram, seconds).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
import time
from typing import TYPE_CHECKING, Any

from bsg_async._call import RETRY_EVENT
from bsg_async._version import __version__

if TYPE_CHECKING:
    import httpx
    from opentelemetry.metrics import Counter, Histogram, UpDownCounter
    from opentelemetry.trace import Tracer

    from bsg_async._call import Call

__all__ = ["Telemetry", "telemetry", "url_template"]

# Path segments that are ids: replaced by {id} in url.template (never an attribute).
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def url_template(path: str) -> str:
    """The path with its ids replaced: ``/api/contacts/123`` -> ``/api/contacts/{id}``."""
    return _ID_SEGMENT.sub("/{id}", path)


class Telemetry:
    """The tracer, meter and instruments of the SDK (one set per process)."""

    def __init__(
        self, tracer_provider: object | None = None, meter_provider: object | None = None
    ) -> None:
        from opentelemetry import metrics, propagate, trace  # noqa: PLC0415 - optional extra

        self._trace = trace
        self._metrics = metrics
        self._propagate = propagate
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._active = False
        self._checked_until = -math.inf
        self.tracer: Tracer = trace.get_tracer(
            "bsg_async",
            __version__,
            tracer_provider=tracer_provider,  # type: ignore[arg-type]
        )
        meter = metrics.get_meter(
            "bsg_async",
            __version__,
            meter_provider=meter_provider,  # type: ignore[arg-type]
        )
        self.requests: Counter = meter.create_counter(
            "bsg.client.requests",
            unit="{request}",
            description="HTTP attempts, by operation and status",
        )
        self.retries: Counter = meter.create_counter(
            "bsg.client.retries", unit="{retry}", description="Retries, by cause"
        )
        self.rate_limited: Counter = meter.create_counter(
            "bsg.client.rate_limited", unit="{response}", description="Answers of 429"
        )
        self.wait_turn: Histogram = meter.create_histogram(
            "bsg.client.wait.rate_limit", unit="s", description="Time a call waited for its turn"
        )
        self.wait_pause: Histogram = meter.create_histogram(
            "bsg.client.wait.pause", unit="s", description="Time a call waited out a pause"
        )
        self.auth: Counter = meter.create_counter(
            "bsg.client.auth", unit="{exchange}", description="Logins and token refreshes"
        )
        self.redis_duration: Histogram = meter.create_histogram(
            "bsg.redis.duration", unit="s", description="Round trips to the Redis coordination"
        )
        self.in_flight: UpDownCounter = meter.create_up_down_counter(
            "bsg.client.in_flight", unit="{request}", description="Attempts on the wire"
        )

    def active(self) -> bool:
        """Whether anything would be recorded: a real tracer or meter provider is set.

        Until the application sets providers (or when it sets no-op ones) the
        SDK skips its tracing work: spans and instruments would all be no-ops
        (measured: 28 µs per call, a third of an in-process ``get``).
        """
        now = time.monotonic()
        if now < self._checked_until:
            return self._active
        # Global providers are looked up at most once a second (each lookup
        # reads the environment): one set at start-up is seen within a second.
        self._checked_until = now + 1.0
        self._active = self._providers_record()
        return self._active

    def _providers_record(self) -> bool:
        tracers = self._tracer_provider or self._trace.get_tracer_provider()
        meters = self._meter_provider or self._metrics.get_meter_provider()
        quiet_tracers = isinstance(
            tracers, (self._trace.ProxyTracerProvider, self._trace.NoOpTracerProvider)
        )
        quiet_meters = isinstance(meters, self._metrics.NoOpMeterProvider) or (
            type(meters).__name__ == "_ProxyMeterProvider"  # the API's stand-in until one is set
        )
        return not (quiet_tracers and quiet_meters)

    def operation(self, name: str) -> Any:  # noqa: ANN401 - a span context manager
        """The span of one call (made current, so attempts nest under it)."""
        return self.tracer.start_as_current_span(
            f"bsg.{name}", kind=self._trace.SpanKind.CLIENT, record_exception=False
        )

    def end_operation(self, span: Any, call: Call, error: BaseException | None) -> None:  # noqa: ANN401
        """What the call did, onto its span and the metrics."""
        if call.waited_turn:
            self.wait_turn.record(call.waited_turn, {"bsg.operation": call.operation})
        if call.waited_pause:
            self.wait_pause.record(call.waited_pause, {"bsg.operation": call.operation})
        for event in call.events:
            if event in ("login", "refresh"):
                self.auth.add(1, {"bsg.auth": event})
            elif event.startswith(RETRY_EVENT):
                self.retries.add(1, {"bsg.retry.cause": event.removeprefix(RETRY_EVENT)})
        if not span.is_recording():
            return
        span.set_attributes(
            {
                "bsg.retries_taken": call.retries_taken,
                "bsg.attempts": call.attempts,
                "bsg.wait.rate_limit": call.waited_turn,
                "bsg.wait.pause": call.waited_pause,
                "bsg.may_have_been_applied": call.may_have_been_applied,
            }
        )
        for event in call.events:
            span.add_event(event)
        if error is not None:
            self._failed(span, type(error).__name__)

    def _failed(self, span: Any, kind: str) -> None:  # noqa: ANN401
        """Mark ``span`` as failed: ``error.type`` and an error status saying ``kind``."""
        span.set_attribute("error.type", kind)
        span.set_status(self._trace.StatusCode.ERROR, kind)

    def start_bulk(self, name: str) -> Any:  # noqa: ANN401 - a span
        """The span of a bulk call (``bsg.contacts.create_many``), ended by ``end_bulk``."""
        return self.tracer.start_span(f"bsg.{name}", kind=self._trace.SpanKind.CLIENT)

    def within(self, span: Any) -> Any:  # noqa: ANN401 - a context manager
        """Make ``span`` current (its items' spans nest under it), without ending it."""
        return self._trace.use_span(span, end_on_exit=False)

    def end_bulk(self, span: Any, items: int, error: BaseException | None) -> None:  # noqa: ANN401
        """End a bulk call's span with its item count and any error."""
        span.set_attribute("bsg.items", items)
        if error is not None:
            self._failed(span, type(error).__name__)
        span.end()

    def attempt(self, request: httpx.Request, number: int) -> Any:  # noqa: ANN401 - a span context manager
        """The span of one HTTP attempt; puts ``traceparent`` on the request."""
        template = url_template(request.url.path)
        return self.tracer.start_as_current_span(
            f"{request.method} {template}",
            kind=self._trace.SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                "url.template": template,
                "server.address": request.url.host,
                "server.port": request.url.port or (443 if request.url.scheme == "https" else 80),
                "bsg.attempt": number,
            },
            record_exception=False,
        )

    def inject(self, request: httpx.Request) -> None:
        """Put the current trace context (``traceparent``) on the request's headers."""
        self._propagate.inject(request.headers)

    def end_attempt(
        self,
        span: Any,  # noqa: ANN401
        call: Call,
        response: httpx.Response | None,
        error: BaseException | None,
    ) -> None:
        """The attempt's outcome onto its span and the request counters."""
        status = "error" if response is None else str(response.status_code)
        self.requests.add(
            1, {"bsg.operation": call.operation or "auth", "http.response.status_code": status}
        )
        if response is not None and response.status_code == 429:  # noqa: PLR2004
            self.rate_limited.add(1, {"bsg.operation": call.operation or "auth"})
        if not span.is_recording():
            return
        if response is not None:
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:  # noqa: PLR2004
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(self._trace.StatusCode.ERROR)
        elif error is not None:
            self._failed(span, type(error).__name__)


def _installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):  # blocked, or a broken install
        return False


@functools.cache
def _global() -> Telemetry | None:
    return Telemetry() if _installed() else None


def telemetry(
    tracer_provider: object | None = None, meter_provider: object | None = None
) -> Telemetry | None:
    """The SDK's instruments, or None without ``opentelemetry-api``.

    With no providers given, the global ones (one set per process, made on
    first use); with providers, a set of instruments of their own.
    """
    if tracer_provider is None and meter_provider is None:
        return _global()
    if not _installed():
        from bsg_async._errors import InvalidRequestError  # noqa: PLC0415

        raise InvalidRequestError(
            "tracer_provider and meter_provider need opentelemetry-api:"
            ' pip install "bsg-async[otel]"'
        )
    return Telemetry(tracer_provider, meter_provider)
