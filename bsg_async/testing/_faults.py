"""Injected failures: which requests fail, and how."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from bsg_async.testing._protocol import JSON_HEADERS, Reply

__all__ = ["Faults", "FaultDice"]

_BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body>"
    b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
    b"</body></html>"
)


@dataclass
class Faults:
    """Injected failures, each a fraction of the requests in [0, 1].

    Attributes:
        error_500: Answer 500 with the API's JSON error body.
        error_502_html: Answer 502 with a proxy's HTML page.
        error_503_retry_after: Answer 503 with ``Retry-After``.
        drop: Close the connection without a complete answer.
        slow: Delay the answer by ``slow_seconds`` (to trip timeouts).
        latency: Seconds added to every answer.
        retry_after: Seconds sent in ``Retry-After``.
        after_apply: Of the faults hitting a request that changes state,
            the fraction that strike after the change was made (the client
            cannot tell whether it was applied).
        include_auth: Whether login and refresh can fail too.
        seed: Seed of the fault dice (same seed, same faults).
    """

    error_500: float = 0.0
    error_502_html: float = 0.0
    error_503_retry_after: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 5.0
    latency: float = 0.0
    retry_after: float = 1.0
    after_apply: float = 0.5
    include_auth: bool = False
    seed: int = 0

    @classmethod
    def mixed(cls, rate: float, *, seed: int = 0, **options: Any) -> Faults:  # noqa: ANN401
        """Spread ``rate`` evenly over 500, HTML 502, 503 and dropped connections."""
        share = rate / 4
        return cls(
            error_500=share,
            error_502_html=share,
            error_503_retry_after=share,
            drop=share,
            seed=seed,
            **options,
        )

    def kinds(self) -> list[tuple[str, float]]:
        """(kind, probability) of every fault that is switched on."""
        table = [
            ("500", self.error_500),
            ("502", self.error_502_html),
            ("503", self.error_503_retry_after),
            ("drop", self.drop),
            ("slow", self.slow),
        ]
        return [(kind, p) for kind, p in table if p > 0]


class FaultDice:
    """Decides, reproducibly from the faults' seed, which requests fail."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.random = random.Random(faults.seed)  # noqa: S311 - test data

    def roll(self, *, auth: bool) -> str | None:
        """The fault striking the next request, if any."""
        if auth and not self.faults.include_auth:
            return None
        point = self.random.random()
        for kind, probability in self.faults.kinds():
            if point < probability:
                return kind
            point -= probability
        return None

    def strikes_after_apply(self) -> bool:
        """Whether a fault on a change strikes after the change was made."""
        return self.random.random() < self.faults.after_apply

    def reply(self, kind: str) -> Reply:
        """The answer of a fault (for ``slow``, the caller delays the real answer)."""
        if kind == "500":
            return Reply(500, json.dumps({"message": "Server Error"}).encode(), dict(JSON_HEADERS))
        if kind == "502":
            return Reply(502, _BAD_GATEWAY_PAGE, {"content-type": "text/html"})
        if kind == "503":
            return Reply(
                503,
                b'{"message":"Service Unavailable"}',
                {**JSON_HEADERS, "retry-after": str(self.faults.retry_after)},
            )
        if kind == "slow":
            return Reply(
                200, b"", dict(JSON_HEADERS), action="slow", delay=self.faults.slow_seconds
            )
        return Reply(502, b"", {}, action="drop")
