"""End-to-end fixtures: after every test that used a database, `jifen audit`'s checks run on
it, and any violation fails that test (issue 4: the ledger provably balances)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from back_office.ledger_check import audit_database

# A test's database is small: the audit takes milliseconds; this only bounds a hung server.
AUDIT_TIMEOUT_S = 30.0


@pytest.fixture(autouse=True)
def audited_database(
    request: pytest.FixtureRequest, run_async: Callable[..., object]
) -> Iterator[None]:
    """Audit the test's `database_url` after the test, before the database is dropped."""
    if "database_url" not in request.fixturenames:
        yield
        return
    # Requested from here, database_url is torn down after this fixture: the audit sees it.
    database_url = request.getfixturevalue("database_url")
    yield
    report = run_async(_audit, database_url)
    if not report.clean:
        listed = "\n".join(f"  {violation.describe()}" for violation in report.violations())
        pytest.fail(f"jifen audit found {report.violation_count} violations after the test:\n"
                    f"{listed}", pytrace=False)


async def _audit(database_url: str):
    return await audit_database(database_url, timeout_s=AUDIT_TIMEOUT_S)
