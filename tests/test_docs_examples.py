"""Every ```python block of the guides runs, against the served emulator.

Blocks of one page run in order in one namespace, with top-level ``await``
(as in a notebook), ``BSG_API_KEY`` and ``BSG_BASE_URL`` pointing at a fresh
emulator per page. Blocks marked ```py are shown, not run (they need a web
framework's process; `tests/test_web_service.py` runs that example).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import CodeType

import pytest

from bsg_async.testing import DEFAULT_KEY, EmulatorServer, FakeBSG

pytestmark = pytest.mark.anyio

GUIDES = sorted((Path(__file__).parent.parent / "docs").rglob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


PAGES = [page for page in GUIDES if _blocks(page)]


@pytest.fixture
def anyio_backend() -> str:
    # The guides show asyncio notebooks and scripts.
    return "asyncio"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    with FakeBSG(seed_contacts=120, seed=2).serve() as running:
        monkeypatch.setenv("BSG_API_KEY", DEFAULT_KEY)
        monkeypatch.setenv("BSG_BASE_URL", running.base_url)
        yield running


def _compile(source: str, name: str) -> CodeType:
    code: CodeType = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return code


def test_the_guides_have_examples() -> None:
    """The runner finds the guides' blocks (so the test below cannot pass empty)."""
    assert {"quickstart.md", "notebooks.md", "bulk.md", "errors.md", "testing.md"} <= {
        page.name for page in PAGES
    }


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
async def test_guide_examples_run(
    page: Path, served: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each block runs without error; the page's own asserts check the results."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, source in enumerate(_blocks(page)):
        code = _compile(source, f"{page.name}[{number}]")
        with warnings.catch_warnings():
            # The notebook page drops nothing, but closes at its end.
            warnings.simplefilter("error")
            result = eval(code, namespace)  # noqa: S307 - our own documentation
            if result is not None:
                await result
    capsys.readouterr()
    assert [] == served.fake.unexpected


REFERENCE = Path(__file__).parent.parent / "docs" / "reference"
ENTRY = re.compile(r"^::: ([\w.]+)", re.MULTILINE)


def test_every_public_name_has_a_reference_entry_at_its_public_path() -> None:
    """bsg_async.__all__ and bsg_async.testing.__all__ each appear; no private path does."""
    import bsg_async  # noqa: PLC0415
    import bsg_async.testing  # noqa: PLC0415

    entries = {m for page in REFERENCE.glob("*.md") for m in ENTRY.findall(page.read_text())}
    public = {f"bsg_async.{name}" for name in bsg_async.__all__ if name != "__version__"}
    public |= {f"bsg_async.testing.{name}" for name in bsg_async.testing.__all__}
    assert set() == public - entries
    assert [] == sorted(e for e in entries if any(part.startswith("_") for part in e.split(".")))
