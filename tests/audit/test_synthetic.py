"""The synthetic journal that measures the audit at scale (tests/audit/synthetic.py) is sound:
a small one passes every check."""

from __future__ import annotations

import asyncpg
import pytest

from back_office.ledger_check import audit_connection
from tests.audit.synthetic import fill

pytestmark = pytest.mark.anyio


async def test_a_small_synthetic_journal_is_clean(database_url):
    connection = await asyncpg.connect(database_url)
    try:
        await fill(connection, postings=2_000)
        report = await audit_connection(connection)
    finally:
        await connection.close()
    assert report.clean, [violation.describe() for violation in report.violations()]
    assert (report.counts.postings, report.counts.transactions) == (2_000, 1_000)
