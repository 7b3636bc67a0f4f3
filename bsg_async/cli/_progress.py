"""A small progress bar on stderr: count, total, rate and ETA.

On a terminal it redraws one line; elsewhere (pipes, CI, tests) it prints a
plain line every few seconds and one at the end, so logs stay readable.
``BSG_PROGRESS=plain`` forces the plain form, ``BSG_PROGRESS=off`` hides it.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 28
_PLAIN_EVERY = 5.0
_REDRAW_EVERY = 0.1
# A rate (and the ETA from it) needs this many seconds of data to mean anything.
_RATE_AFTER = 3.0


class Progress:
    """Progress of one job.

    Args:
        label: What is being counted ("export", "import").
        total: Items expected, when known (``set_total`` later otherwise).
        stream: Where to draw (stderr).
    """

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        mode = os.environ.get("BSG_PROGRESS", "").lower()
        self.enabled = mode != "off"
        self.live = mode != "plain" and self.stream.isatty()
        self._started = time.monotonic()
        self._drawn = 0.0

    def set_total(self, total: int) -> None:
        """Learn the total (after the first page)."""
        self.total = total

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items done."""
        self.done += count
        now = time.monotonic()
        every = _REDRAW_EVERY if self.live else _PLAIN_EVERY
        if now - self._drawn >= every:
            self._drawn = now
            self._draw(final=False)

    def finish(self) -> None:
        """Draw the final state and end the line."""
        self._draw(final=True)

    def line(self) -> str:
        """The progress as text, e.g. ``export 500/1,000 50% 2,000/s ETA 0:00:01``."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self.done / elapsed
        # Before a few seconds of data, a rate is noise and an ETA misleads.
        timing = elapsed >= _RATE_AFTER and rate > 0
        speed = f" {rate:,.0f}/s" if timing else ""
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * _WIDTH)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            text = f"{self.label} [{bar}] {self.done:,}/{self.total:,} {share:.0%}{speed}"
            if timing and self.done < self.total:
                remaining = (self.total - self.done) / rate
                text += f" ETA {time.strftime('%H:%M:%S', time.gmtime(remaining))}"
            return text
        return f"{self.label} {self.done:,}{speed}"

    def _draw(self, *, final: bool) -> None:
        if not self.enabled:
            return
        if self.live:
            end = "\n" if final else ""
            self.stream.write("\r\x1b[2K" + self.line() + end)
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
