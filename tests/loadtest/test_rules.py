"""`jifen loadtest --rules realistic` loads a rule set the host compiles for the load test's
merchants, and every purchase then earns by it; `--rules none` ends it from tomorrow."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from account_host.earning.earn import Earning, Moment
from account_host.earning.rule_book import RuleBook, compile_rules
from loadtest.provision import ensure_fleet, merchant_code
from loadtest.rules import MERCHANTS, PROMOTIONS, ensure_rules
from proto.earn_rules import decode_rules

pytestmark = pytest.mark.anyio


async def test_the_realistic_set_and_none(database_url: str) -> None:
    await ensure_fleet(database_url, terminals=8, cards=2)
    await ensure_rules(database_url, "realistic")
    await ensure_rules(database_url, "realistic")     # a second run keeps today's version
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT effective_from, document::text AS document FROM earn_rule_sets"
            " WHERE replaced_by IS NULL ORDER BY effective_from")
        merchants = {row["merchant_code"]: (row["id"], row["category"])
                     for row in await connection.fetch(
                         "SELECT id, merchant_code, category FROM merchants")}
        await ensure_rules(database_url, "none")
        after = await connection.fetch("SELECT effective_from, document::text AS document"
                                       " FROM earn_rule_sets WHERE replaced_by IS NULL"
                                       " ORDER BY effective_from")
    finally:
        await connection.close()
    [(effective_from, document)] = [(row["effective_from"], row["document"]) for row in rows]
    rules = decode_rules(document)
    assert len(rules.promotions) == PROMOTIONS and rules.caps.counted
    assert sum(1 for code in merchants if code.startswith("LOADTEST")) >= MERCHANTS
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    book = RuleBook([compile_rules(effective_from, rules, merchants)])
    earning = Earning(book.in_force(today), Moment(today, 12))
    first = merchants[merchant_code(1)][0]
    assert earning.points(first, 1, 100_000) > 0
    assert [row["effective_from"] for row in after] == [effective_from, _next(effective_from)]
    assert decode_rules(after[1]["document"]).promotions == ()


def _next(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)
