"""The README's and the guides' python blocks as modules, for the type checkers.

    python -m tests.doc_snippets OUT_DIR

writes one module per page: its imports at the top and the rest of its
blocks, in order, as the body of one ``async def`` (the blocks use top-level
``await``, as a notebook does). ``nox -s typecheck`` runs mypy --strict and
pyright over them, so an example that would not type-check in a user's
project fails CI. The guides' blocks also run (``tests/test_docs_examples.py``).
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Names the README's tour uses without making them (its blocks are fragments
# of a program, not a program): declared here so that the rest is checked.
PLACEHOLDERS = {
    "README": [
        "ids: list[int] = []",
        "phones: list[int] = []",
        "contact_id: int = 248452739",
    ],
}


def module_for(page: Path) -> str | None:
    """The page's blocks as one module's source, or None when it has none."""
    blocks = BLOCK.findall(page.read_text(encoding="utf-8"))
    if not blocks:
        return None
    lines = "\n".join(blocks).splitlines()
    imports = list(dict.fromkeys(line for line in lines if line.startswith(("import ", "from "))))
    body = [line for line in lines if not line.startswith(("import ", "from "))]
    prelude = PLACEHOLDERS.get(page.stem, [])
    return "\n".join(
        [
            f'"""The python blocks of {page.relative_to(ROOT)}."""',
            "",
            "from __future__ import annotations",
            "",
            *imports,
            "",
            "",
            "async def page() -> None:",
            '    """Every block of the page, in order."""',
            *(f"    {line}" for line in prelude),
            textwrap.indent("\n".join(body), "    "),
            "",
        ]
    )


def main(out: Path) -> int:
    """Write the modules; return how many were written."""
    out.mkdir(parents=True, exist_ok=True)
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    written = 0
    for page in pages:
        source = module_for(page)
        if source is None:
            continue
        name = re.sub(r"\W", "_", str(page.relative_to(ROOT).with_suffix(""))).lower()
        (out / f"{name}.py").write_text(source, encoding="utf-8")
        written += 1
    return written


if __name__ == "__main__":
    count = main(Path(sys.argv[1]))
    sys.stdout.write(f"{count} pages of python blocks written to {sys.argv[1]}\n")
