r"""A web service that shares one bsg_async Client across all its requests.

Run it against the emulator (two terminals)::

    python -m bsg_async.testing serve --port 8900 --seed-contacts 1000
    BSG_API_KEY=test_emulator_key BSG_BASE_URL=http://127.0.0.1:8900/api \\
        uvicorn examples.fastapi_app:app --port 8000

Then ``curl localhost:8000/contacts/248452739`` or ``curl localhost:8000/contacts.csv``.

With OpenTelemetry installed (``pip install "bsg-async[otel]"`` and an SDK
or exporter of your choice), each request to this service is a SERVER span
that continues the caller's trace (its ``traceparent``), and the SDK's spans
nest under it: one trace from the incoming request to every call to BSG.
(``opentelemetry-instrumentation-fastapi`` does the same, with more detail.)
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

import bsg_async


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One client for the whole process: one pool, one token, one rate limit."""
    async with bsg_async.Client(max_concurrency=32) as client:
        app.state.bsg = client
        yield


app = FastAPI(lifespan=lifespan)

try:
    from opentelemetry import propagate, trace
except ImportError:  # no tracing without the otel extra
    pass
else:

    @app.middleware("http")
    async def traced(request: Request, call_next: Any) -> Any:  # noqa: ANN401 - Starlette's types
        """A server span per request, in the caller's trace; the SDK's spans nest under it."""
        tracer = trace.get_tracer("examples.fastapi_app")
        with tracer.start_as_current_span(
            request.method,  # no path: it holds ids
            context=propagate.extract(request.headers),
            kind=trace.SpanKind.SERVER,
        ):
            return await call_next(request)


def bsg(request: Request) -> bsg_async.Client:
    """The shared client (made in the lifespan)."""
    client: bsg_async.Client = request.app.state.bsg
    return client


@app.get("/contacts/{contact_id}")
async def get_contact(contact_id: int, request: Request) -> dict[str, object]:
    """One contact as JSON (the API's datetime strings, field ids as keys)."""
    contact = await bsg(request).contacts.get(contact_id)
    return contact.to_dict()


@app.get("/models/contacts/{contact_id}")
async def get_contact_model(contact_id: int, request: Request) -> bsg_async.Contact:
    """The same contact, the SDK's model as the response model (in the OpenAPI schema too)."""
    return await bsg(request).contacts.get(contact_id)


@app.get("/models/first-page")
async def first_page(request: Request) -> bsg_async.Page[bsg_async.Contact]:
    """The first page of contacts, as the SDK's Page model."""
    return await anext(bsg(request).contacts.list(page_size=15).pages())


@app.get("/models/contacts")
async def some_contacts(request: Request) -> list[bsg_async.Contact]:
    """A few contacts, as a list of models."""
    return await bsg(request).contacts.list(limit=3).collect()


@app.get("/contacts.csv")
async def export_contacts(request: Request) -> StreamingResponse:
    """Every contact as CSV, streamed page by page (8 requests in flight)."""
    client = bsg(request)

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "phone", "created_at", "lists"])
        async with client.contacts.list(prefetch=8).stream() as pages:
            async for page in pages:
                for contact in page.items:
                    lists = " ".join(str(item.id) for item in contact.lists)
                    writer.writerow([contact.id, contact.phone, contact.created_at, lists])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()

    return StreamingResponse(rows(), media_type="text/csv")


# What the SDK's errors mean to this service's callers.
@app.exception_handler(bsg_async.NotFoundError)
async def not_found(_: Request, error: bsg_async.NotFoundError) -> JSONResponse:
    """No such contact: 404."""
    return JSONResponse({"detail": error.message}, status_code=404)


@app.exception_handler(bsg_async.InvalidRequestError)
async def invalid(_: Request, error: bsg_async.InvalidRequestError) -> JSONResponse:
    """The caller's input was rejected before anything was sent: 422."""
    return JSONResponse({"detail": str(error)}, status_code=422)


@app.exception_handler(bsg_async.RateLimitError)
async def throttled(_: Request, error: bsg_async.RateLimitError) -> JSONResponse:
    """BSG asked us to slow down: 503 with the wait it asked for."""
    headers = {} if error.retry_after is None else {"Retry-After": f"{error.retry_after:.0f}"}
    return JSONResponse({"detail": "busy, retry later"}, status_code=503, headers=headers)


@app.exception_handler(bsg_async.APITimeoutError)
async def timed_out(_: Request, __: bsg_async.APITimeoutError) -> JSONResponse:
    """BSG did not answer in time: 504."""
    return JSONResponse({"detail": "upstream timeout"}, status_code=504)


@app.exception_handler(bsg_async.BSGError)
async def upstream(_: Request, error: bsg_async.BSGError) -> JSONResponse:
    """Anything else from BSG: 502 (the message carries no key or token)."""
    return JSONResponse({"detail": str(error)}, status_code=502)
