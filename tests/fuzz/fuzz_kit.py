"""Helpers of the fuzz tests: the seeds' terminal, a watch on the front's error logs, and the
checks that nothing was posted."""

from __future__ import annotations

from typing import Any

from back_office.ledger_check import audit_database
from loadtest.fuzz import table_counts as all_table_counts
from loadtest.fuzz_cases import Station
from tests.e2e.system import CARDS, MERCHANT, TERMINAL, RunningSystem

STATION = Station(terminal=TERMINAL, merchant=MERCHANT, pan=CARDS[0])
AUDIT_TIMEOUT_S = 30.0
_ERROR_METHODS = frozenset({"error", "exception", "critical", "fatal"})


def _drop(*_args: object, **_fields: object) -> None:
    return None


class ErrorLogWatch:
    """Stands in for a module's structlog logger: records error-level calls and forwards them;
    drops the rest (one line per malformed frame through the suite's unconfigured console
    renderer would take most of the run's time).

    Patching the module's `log` works whatever structlog's configuration or logger cache."""

    def __init__(self, module: str, logger: Any, seen: list[str]) -> None:
        self._module, self._logger, self._seen = module, logger, seen

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._logger, name)
        if name not in _ERROR_METHODS:
            return _drop if callable(method) else method

        def recorded(event: str, *args: object, **fields: object) -> Any:
            self._seen.append(f"{self._module}: {name} {event} {fields}")
            return method(event, *args, **fields)
        return recorded


async def table_counts(system: RunningSystem) -> dict[str, int]:
    """Rows of every table of the system's database."""
    return await all_table_counts(system.database_url)


async def assert_audit_clean(database_url: str) -> None:
    report = await audit_database(database_url, timeout_s=AUDIT_TIMEOUT_S)
    assert report.clean, [violation.describe() for violation in report.violations()]
