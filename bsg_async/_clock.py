"""Time as one injectable object, so retry and rate-limit tests never sleep."""

from __future__ import annotations

import random
import time

import anyio

__all__ = ["Clock"]


class Clock:
    """What the layers need of time: two clocks, a sleep and a jitter source.

    Subclass it (or pass any object with these methods) to control time.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (pacing, pauses)."""
        return time.monotonic()

    def time(self) -> float:
        """Seconds since the epoch (compared with a JWT's ``exp``)."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        await anyio.sleep(seconds)

    def jitter(self) -> float:
        """A number in [0, 1] that spreads retry delays."""
        return random.random()  # noqa: S311 - not cryptographic
