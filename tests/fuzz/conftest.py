"""Fixtures of the fuzz tests: the whole system with a signed-on terminal, and a watch on the
front's error logs."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

from tests.e2e.system import RunningSystem, running_system
from tests.fuzz.fuzz_kit import ErrorLogWatch


@pytest.fixture
def front_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every error or exception the front logs during the test."""
    seen: list[str] = []
    for name, module in list(sys.modules.items()):
        if name.startswith("acquirer_front") and hasattr(module, "log"):
            monkeypatch.setattr(module, "log", ErrorLogWatch(name, module.log, seen))
    return seen


@pytest.fixture
async def system(database_url: str) -> AsyncIterator[RunningSystem]:
    """The whole system, with STATION's terminal signed on."""
    async with running_system(database_url) as running:
        async with running.terminal() as terminal:
            assert (await terminal.sign_on())["39"] == "00"
        yield running
