"""Progress bars for long calls, through tqdm (the ``progress`` extra).

``tqdm.auto`` draws a widget in Jupyter and a text bar in a terminal, with the
total, the rate and the time left. Without ``progress=True`` nothing is drawn
and tqdm is not imported.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Protocol

from bsg_async._errors import MissingExtraError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Bar", "progress_bar", "set_total"]


class Bar(Protocol):
    """What the SDK calls on a progress bar."""

    total: float | None
    n: float

    def update(self, n: float = 1) -> bool | None:
        """Count ``n`` more items done."""

    def refresh(self) -> None:
        """Redraw (after ``total`` changed)."""

    def reset(self, total: float | None = None) -> None:
        """Start again from zero with a new total (resizes Jupyter's widget too)."""

    def close(self) -> None:
        """Finish the bar."""


class _NoBar:
    """The bar when progress is off: does nothing."""

    total: float | None = None
    n: float = 0

    def update(self, n: float = 1) -> None:
        """Nothing to count."""

    def refresh(self) -> None:
        """Nothing to draw."""

    def reset(self, total: float | None = None) -> None:
        """Nothing to start again."""

    def close(self) -> None:
        """Nothing to finish."""


@contextlib.contextmanager
def progress_bar(enabled: bool, *, total: int | None, desc: str, unit: str) -> Iterator[Bar]:
    """A tqdm bar when ``enabled`` (``total`` None: counts without an end), closed at the end."""
    if not enabled:
        yield _NoBar()
        return
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415 - only when asked for
    except ImportError:
        raise MissingExtraError("progress=True", "tqdm", "progress") from None
    bar: Bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def set_total(bar: Bar, total: int) -> None:
    """Tell the bar its end once it is known (the first page's ``total``).

    Before anything is counted this is tqdm's ``reset(total)``, the one call
    that also gives Jupyter's widget its length (a bar made without a total
    stays an indefinite one otherwise). A total that changes later (contacts
    added while listing) is set in place, keeping the count.
    """
    if bar.total == total:
        return
    if bar.n == 0:
        bar.reset(total)
    else:
        bar.total = total
        bar.refresh()
