"""The tqdm bar the command line draws (imported only when tqdm is installed).

Two things are ours, both through tqdm's ``format_dict``: counts are written
with thousands separators, and no rate or time left is shown before three
seconds of data (earlier, a rate is noise and an ETA misleads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tqdm import tqdm

__all__ = ["CountingBar"]

# A rate (and the time left from it) needs this many seconds of data.
RATE_AFTER = 3.0
# Rates below this get one decimal (0.4 rows/s, not 0).
WHOLE_FROM = 10
WITH_TOTAL = "{desc}: {percentage:3.0f}%|{bar}| {count}/{of} [{elapsed}<{remaining}, {speed}]"
WITHOUT_TOTAL = "{desc}: {count} [{elapsed}, {speed}]"

if TYPE_CHECKING:
    _Base = tqdm[Any]
else:
    _Base = tqdm


class CountingBar(_Base):
    """tqdm with separated counts, and a rate only once it means something.

    The finished bar shows the job's average rate, however short the job.
    """

    @property
    def format_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = dict(super().format_dict)
        elapsed = values["elapsed"] or 0.0
        done, total = values["n"], values["total"]
        average = (done - values["initial"]) / elapsed if elapsed else 0.0
        rate = average if values["rate"] is None else values["rate"]
        if total is not None and done >= total:
            rate = average  # the finished job's average is data, however short
        elif elapsed < RATE_AFTER:
            rate = 0  # tqdm shows "?" for a zero rate, and for the time left from it
        unit = values["unit"]
        values.update(
            rate=rate,
            count=f"{done:,}",
            of="?" if total is None else f"{total:,}",
            speed=f"{_number(rate)} {unit}/s" if rate else f"? {unit}/s",
            bar_format=WITHOUT_TOTAL if total is None else WITH_TOTAL,
        )
        return values


def _number(rate: float) -> str:
    """A rate as people read it: 2,345 or 12 or 0.4."""
    return f"{rate:,.0f}" if rate >= WHOLE_FROM else f"{rate:.1f}"
