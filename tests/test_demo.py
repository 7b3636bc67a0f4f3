"""The README's main job, as a newcomer runs it: the tour against the emulator on loopback."""

from __future__ import annotations

import re

import pytest

from bsg_async.testing import __main__ as testing_cli


def test_the_demo_checks_out_under_its_faults(capsys: pytest.CaptureFixture[str]) -> None:
    """Defaults (5,000 contacts, 500 imports, 20% faults on the walk): every step passes."""
    assert 0 == testing_cli.main(["demo"])
    out = capsys.readouterr().out
    assert out.rstrip().endswith("Demo finished: every step checked out.")
    assert "all retried: 5500 of 5500 contacts, each exactly once" in out
    injected = re.search(r"walk under 20% faults\s+injected (.*)", out)
    assert injected is not None
    assert sum(int(n) for n in re.findall(r"(\d+) x ", injected.group(1))) > 0
