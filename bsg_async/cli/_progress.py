"""The command line's progress bar on stderr, drawn by tqdm (the ``cli`` extra).

On a terminal tqdm redraws one line. Elsewhere (pipes, CI logs, tests) the
same text is printed as a plain line every few seconds and once at the end,
so logs stay readable. ``BSG_PROGRESS=plain`` forces the plain form,
``BSG_PROGRESS=off`` hides it; without tqdm installed no bar is drawn and the
jobs' summaries still are.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm
    from typing_extensions import Self

__all__ = ["Progress"]

# Seconds between plain lines when the output is not a terminal.
_PLAIN_EVERY = 5.0


class Progress:
    """Progress of one job.

    Args:
        label: What is being counted ("export", "import").
        total: Items expected, when known (``set_total`` later otherwise).
        stream: Where to draw (stderr).
        unit: What one item is called in the rate ("contacts").
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        unit: str = "contacts",
    ) -> None:
        stream = stream or sys.stderr
        mode = os.environ.get("BSG_PROGRESS", "").lower()
        self._bar: tqdm[Any] | None = None
        if mode == "off":
            return
        try:
            bar_class = _bar_class()
        except ImportError:  # tqdm comes with the `cli` extra; no bar without it
            return
        live = mode != "plain" and stream.isatty()
        self._bar = bar_class(
            total=total,
            desc=label,
            unit=unit,
            file=stream if live else _Lines(stream),
            mininterval=0.1 if live else _PLAIN_EVERY,
            # With a fixed width the plain lines do not depend on the terminal.
            dynamic_ncols=live,
            ncols=None if live else 100,
            ascii=not live,
            smoothing=0.1,
        )

    def set_total(self, total: int) -> None:
        """Learn the total (after the first page); shown at the next redraw."""
        if self._bar is not None and self._bar.total != total:
            self._bar.total = total

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items done."""
        if self._bar is not None:
            self._bar.update(count)

    def line(self) -> str:
        """The progress as it is drawn, e.g. ``export:  40%|####| 400/1,000 [...]``."""
        return "" if self._bar is None else str(self._bar).rstrip()

    def finish(self) -> None:
        """Draw the final state and end the line (once; later calls do nothing)."""
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Finish the bar, also when the job failed: it shows where it stopped."""
        self.finish()


class _Lines:
    """A file for tqdm that turns each redraw (a carriage return, then text) into one line.

    A redraw that repeats the last line (the closing one, often) is not printed.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = ""

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip()
        if text and text != self._last:
            self._last = text
            self._stream.write(text + "\n")

    def flush(self) -> None:
        self._stream.flush()


def _bar_class() -> type[tqdm[Any]]:
    """The bar class, imported on first use (tqdm is optional)."""
    from bsg_async.cli._bar import CountingBar  # noqa: PLC0415 - only when a bar is drawn

    return CountingBar
