"""Developer tasks: `python -m nox -s tests lint typecheck` (what CI runs)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)


def _install(session: nox.Session, *groups: str) -> None:
    session.install("-e", ".[emulator,aiohttp]")
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (asyncio and trio, Redis and the notebook included)."""
    _install(session, "test", "conformance", "redis", "notebook-test")
    session.run("python", "-m", "pytest", *session.posargs)


def _lowest_pins() -> list[str]:
    """``name==version`` for each runtime dependency at its lowest allowed version."""
    pins = []
    for requirement in PYPROJECT["project"]["dependencies"]:
        name, _, rest = requirement.split(";")[0].partition(">=")
        pins.append(f"{name.strip()}=={rest.split(',')[0].strip()}")
    return pins


@nox.session
def tests_minimal(session: nox.Session) -> None:
    """The suite with no extras and without msgspec: stdlib JSON and the generic decoder.

    This is what runs where msgspec has no wheels (it is a dependency on CPython only).
    """
    session.install("-e", ".")
    session.install(*nox.project.dependency_groups(PYPROJECT, "test", "conformance"))
    session.run("python", "-m", "pip", "uninstall", "--yes", "msgspec")
    session.run("python", "-c", "import importlib.util as u; assert not u.find_spec('msgspec')")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def tests_lowest(session: nox.Session) -> None:
    """The suite at the lowest versions of httpx, anyio, attrs, cattrs and sniffio we allow."""
    pins = _lowest_pins()
    session.install("-e", ".[emulator,aiohttp]", *pins)
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"), *pins)
    session.run("python", "-m", "pip", "list")
    # The conformance tests check the emulator, not the SDK's dependencies,
    # and schemathesis needs a newer anyio than the lowest we allow.
    session.run("python", "-m", "pytest", "--ignore=tests/test_conformance.py", *session.posargs)


@nox.session
def redis(session: nox.Session) -> None:
    """Many workers against a real redis-server on loopback (started by the tests)."""
    _install(session, "test", "redis")
    session.run("python", "-m", "pytest", "tests/redis", *session.posargs)


@nox.session
def conformance(session: nox.Session) -> None:
    """More generated requests against the emulator (BSG_OPENAPI_SPEC: from BSG's file)."""
    _install(session, "test", "conformance")
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_conformance.py",
        *session.posargs,
        env={"BSG_CONFORMANCE_EXAMPLES": session.env.get("BSG_CONFORMANCE_EXAMPLES", "150")},
    )


@nox.session(python=PYTHONS)
def tests_all(session: nox.Session) -> None:
    """Run the test suite on every supported Python that is installed."""
    _install(session, "test", "conformance", "redis")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the tests."""
    _install(session, "test", "conformance", "redis", "notebook-test", "typecheck")
    session.run("mypy")


@nox.session
def chaos(session: nox.Session) -> None:
    """The long reliability runs: 100,000 contacts and 40% faults (slow; on demand)."""
    _install(session, "test")
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_chaos.py",
        *session.posargs,
        env={"BSG_CHAOS": "long"},
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site, strictly (broken links or references fail)."""
    session.install("-e", ".")
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against raw httpx (`-- --quick` for a smoke run)."""
    _install(session, "bench")
    quick = ["--quick"] if "--quick" in session.posargs else []
    scripts = (
        "bench_import",
        "bench_inprocess",
        "bench_memory",
        "bench_loopback",
        "token_waits",
        "bench_emulator",
        "bench_frames",
    )
    for script in scripts:
        session.run(
            "python", "-m", f"benchmarks.{script}", *([] if script == "bench_import" else quick)
        )


# The tests that count events over time or race the network: the stress
# session runs them this many times in a row beside a busy loop.
STRESS_TESTS = (
    "tests/test_chaos.py",
    "tests/test_outcomes.py",
    "tests/test_real_paths.py",
    "tests/redis",
    "tests/test_web_service.py",
)
STRESS_RUNS = 2


@nox.session
def stress(session: nox.Session) -> None:
    """Chaos, real-path, Redis and web-service tests, twice, beside a busy loop (a loaded CI)."""
    import subprocess  # noqa: PLC0415 - only this session starts a process of its own
    import sys  # noqa: PLC0415

    _install(session, "test", "redis")
    # One core kept busy at normal priority for as long as the runs last.
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for run in range(1, STRESS_RUNS + 1):
            session.log(f"stress run {run} of {STRESS_RUNS}, beside one busy loop")
            session.run("python", "-m", "pytest", "-q", *STRESS_TESTS, *session.posargs)
    finally:
        hog.kill()
        hog.wait()
