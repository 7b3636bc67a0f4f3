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
    """Run the whole test suite (asyncio and trio, Redis and the notebook included).

    Measured with branch coverage; the whole suite (no arguments) must keep
    the floor in pyproject.toml (``[tool.coverage.report] fail_under``).
    """
    _install(session, "test", "conformance", "redis", "notebook-test", "otel-test", "coverage")
    session.run("python", "-m", "coverage", "erase")
    session.run("python", "-m", "coverage", "run", "-m", "pytest", *session.posargs)
    if not session.posargs:
        session.run("python", "-m", "coverage", "report", "--precision=1")


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
    # Without OpenTelemetry too: its tests (tests/otel) need its SDK.
    session.run("python", "-m", "pytest", "--ignore=tests/otel", *session.posargs)


@nox.session
def tests_lowest(session: nox.Session) -> None:
    """The suite at the lowest versions of httpx, anyio, attrs, cattrs and sniffio we allow."""
    pins = _lowest_pins()
    session.install("-e", ".[emulator,aiohttp]", *pins)
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"), *pins)
    session.run("python", "-m", "pip", "list")
    # The conformance tests check the emulator, not the SDK's dependencies,
    # and schemathesis needs a newer anyio than the lowest we allow.
    session.run(
        "python",
        "-m",
        "pytest",
        "--ignore=tests/test_conformance.py",
        "--ignore=tests/otel",
        *session.posargs,
    )


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
    """Ruff lint and format check; vermin: nothing newer than Python 3.10 is used."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # The package says Python 3.10+: syntax and standard library checked for it.
    session.run(
        "vermin", "-t=3.10-", "--no-tips", "--violations", "--eval-annotations", "bsg_async"
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the tests; pyright: every exported name typed."""
    _install(session, "test", "conformance", "redis", "notebook-test", "otel-test", "typecheck")
    session.run("mypy")  # as Python 3.10 (pyproject), the oldest supported
    for version in ("3.12", "3.13"):  # and as the newest the classifiers list
        session.run("mypy", "--python-version", version, "bsg_async")
    # 100% of the public names with a known type (it was 91.7%): keep it so.
    session.run("pyright", "--verifytypes", "bsg_async", "--ignoreexternal")
    # The README's and the guides' python blocks, as a user's project would check them.
    from pathlib import Path  # noqa: PLC0415

    snippets = Path(session.create_tmp()).resolve() / "doc-snippets"
    session.run("python", "-m", "tests.doc_snippets", str(snippets))
    session.run("mypy", "--strict", str(snippets))
    session.run("pyright", str(snippets))


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
    _install(session, "bench", "otel-test")
    quick = ["--quick"] if "--quick" in session.posargs else []
    scripts = (
        "bench_import",
        "bench_inprocess",
        "bench_memory",
        "bench_loopback",
        "bench_contenders",
        "bench_faults",
        "bench_telemetry",
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


# Extras installed one at a time into a fresh virtual environment each.
EXTRAS = (
    "cli",
    "fast",
    "aiohttp",
    "emulator",
    "redis",
    "pandas",
    "polars",
    "progress",
    "notebook",
    "otel",
)


@nox.session
def package(session: nox.Session) -> None:
    """Build sdist and wheel, check them, and use the wheel as a user would (each extra)."""
    import shutil  # noqa: PLC0415 - only this session builds
    import zipfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    session.install("build", "twine")
    work = Path(session.create_tmp()).resolve()
    dist = work / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    built = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *built)
    (wheel,) = (str(path) for path in dist.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    if "bsg_async/py.typed" not in names:
        session.error("the wheel has no bsg_async/py.typed")
    if any(name.startswith(("tests/", "benchmarks/")) for name in names):
        session.error("the wheel holds tests or benchmarks")
    version = _declared_version()
    for extra in ("", *EXTRAS):
        venv = work / f"venv-{extra or 'plain'}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        target = f"{wheel}[{extra}]" if extra else wheel
        session.run(python, "-m", "pip", "install", "--quiet", target, external=True)
        check = (
            "import bsg_async, pathlib; "
            f"assert bsg_async.__version__ == {version!r}, bsg_async.__version__; "
            "assert 'site-packages' in bsg_async.__file__, bsg_async.__file__; "
            "print('bsg_async', bsg_async.__version__, 'from', "
            "pathlib.Path(bsg_async.__file__).parent)"
        )
        # Run from the work directory, so the checkout's own package cannot be imported.
        with session.chdir(work):
            session.run(python, "-c", check, external=True)
            if extra == "emulator":
                session.run(python, "-m", "bsg_async.testing", "demo", external=True)
            if extra == "cli":
                session.run(str(venv / "bin" / "bsg-async"), "--help", external=True, silent=True)


def _declared_version() -> str:
    """The version the package declares (read from the file hatchling reads)."""
    from pathlib import Path  # noqa: PLC0415

    text = Path("bsg_async/_version.py").read_text(encoding="utf-8")
    return text.split('__version__ = "', 1)[1].split('"', 1)[0]
