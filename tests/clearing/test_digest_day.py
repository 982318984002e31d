"""The daily digest of a known-answer day made end to end: the terminals of three merchants
over TCP through front, switch and host (test_clearing_day.py's day, whose figures are worked
out in its docstring), then `jifen report daily` and `jifen audit` through the `jifen`
command: the digest's points are clearing's, its liability the audit's."""

from __future__ import annotations

import json
import re

import pytest

from tests.account_host.host_harness import fetch
from tests.clearing.clearing_kit import ALLIANCE, MERCHANT_A, MERCHANT_B, MERCHANT_C
from tests.clearing.test_clearing_day import cli, traded_day

pytestmark = pytest.mark.anyio

# test_clearing_day.py's positions: points issued A 123, B 303, C 68; redeemed B 100, C 150;
# 200 points exchanged; loaded 10000 fen at A (C's 3000 reversed); spent C 6000, B 150 fen.
EXPECTED_FLOWS = {"points_issued": 494, "points_given": 0, "points_redeemed": 250,
                  "points_exchanged": 200, "points_expired": 0,
                  "stored_value_loaded_fen": 10_000, "stored_value_spent_fen": 6_150}
# (merchant, issued, redeemed, loaded fen, spent fen, financial transactions), by issued.
EXPECTED_TOP = [(MERCHANT_B, 303, 100, 0, 150, 4), (MERCHANT_A, 123, 0, 10_000, 0, 3),
                (MERCHANT_C, 68, 150, 0, 6_000, 3)]
_MEMBERS_POINTS_SQL = """
SELECT sum(a.balance) FROM accounts a JOIN cards c ON c.id = a.card_id
WHERE a.kind = 'member_points' AND c.alliance_id = (SELECT id FROM alliances WHERE code = $1)
"""
_TERMINALS_SQL = """
SELECT DISTINCT terminal_code FROM transactions
WHERE business_date = $1 AND terminal_code IS NOT NULL ORDER BY terminal_code
"""


async def test_the_digest_of_a_day_made_at_the_terminals(database_url, jifen):
    async with traded_day(database_url) as (_, day):
        pass   # the services stop: the report reads the day's journal as it stays
    read = await cli(jifen, "report", "daily", "--alliance", ALLIANCE, "--date", str(day),
                     "--json")
    assert read.exit_code == 0, read.err
    digest = json.loads(read.out)
    assert digest["flows"] == EXPECTED_FLOWS
    assert [(m["merchant"], m["points_issued"], m["points_redeemed"],
             m["stored_value_loaded_fen"], m["stored_value_spent_fen"], m["transactions"])
            for m in digest["top_merchants"]] == EXPECTED_TOP
    # No 0500 closed any batch of the day: every terminal that posted on it is listed.
    terminals = [row[0] for row in await fetch(database_url, _TERMINALS_SQL, day)]
    assert sorted(b["terminal"] for b in digest["terminal_batches"]) == terminals
    assert {b["state"] for b in digest["terminal_batches"]} == {"not_reconciled"}
    # The liability: the members' balances now (nothing posted after the day), and the
    # audit's figure from the members' postings; valued at the alliance's 1 fen a point.
    [[balances]] = await fetch(database_url, _MEMBERS_POINTS_SQL, ALLIANCE)
    audited = await cli(jifen, "audit")
    assert audited.exit_code == 0, audited.err
    match = re.search(rf"^points liability of {ALLIANCE}: (-?\d+) points", audited.out,
                      re.MULTILINE)
    assert match is not None, audited.out
    assert digest["liability"]["points"] == int(match[1]) == balances > 0
    assert digest["liability"]["amount_fen"] == balances          # 1 fen a point
