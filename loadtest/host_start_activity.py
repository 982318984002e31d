"""For `loadtest.host_start --counters` and `--purchases`: the host's start as it is in a
month of trade under the load test's realistic rules (caps per day and month, 4 tiers, a
12-month expiry), in force since before the month began.

`--counters`: every card earned 100 points today, as its points account row then carries
them (migration 028: the counters the caps count, which the host reads with the balance).

`--purchases`: every card purchased an hour ago, written straight into `transactions` as the
host writes them (ids and RRNs reserved from its counters), without journal entries: the
host's load reads them for the return index (a return may name them) and the reversal memory
of the retransmission window, the state of a day on which a million purchases were made. They
are deleted again (with the journal's append-only trigger set aside: a superuser's connection,
as the embedded server's is) when a start is measured without `--purchases`, and replaced by
new ones when with.
"""

from __future__ import annotations

import asyncpg

from loadtest.provision import ALLIANCE_CODE, terminal_code
from loadtest.rules import ensure_rules

# The benchmark's purchases are the first terminal's batch 1 (the fleet's terminals never
# transact in this benchmark otherwise).
_BATCH_NUMBER = 1
_AMOUNT_FEN = 10_000
_POINTS = 100

_COUNT_SQL = "SELECT count(*) FROM transactions WHERE terminal_code = $1"
_DELETE_SQL = "DELETE FROM transactions WHERE terminal_code = $1"
# One purchase for every active card of the load-test alliance; ids and RRNs reserved from the
# host's counters, as identifiers.py reserves them.
_INSERT_SQL = """
WITH due AS (
    SELECT c.id, row_number() OVER (ORDER BY c.id) AS n
    FROM cards c JOIN alliances a ON a.id = c.alliance_id
    WHERE a.code = $2 AND c.status = 'active'
),
ids AS (
    UPDATE host_counters SET next_value = next_value + (SELECT count(*) FROM due)
    WHERE name = 'transaction' RETURNING next_value - (SELECT count(*) FROM due) AS first
),
rrns AS (
    UPDATE host_counters SET next_value = next_value + (SELECT count(*) FROM due)
    WHERE name = 'rrn' RETURNING next_value - (SELECT count(*) FROM due) AS first
)
INSERT INTO transactions (id, kind, business_date, posted_at, terminal_code, merchant_id,
                          card_id, batch_number, mti, stan, transmission_time, rrn, auth_code,
                          amount, currency, points)
SELECT ids.first + d.n - 1, 'purchase', current_date, now() - interval '1 hour', $1,
       t.merchant_id, d.id, $3, '0200', lpad(((d.n - 1) % 999999 + 1)::text, 6, '0'),
       to_char(now() - interval '1 hour' + make_interval(secs => (d.n - 1) / 999999),
               'MMDDHH24MISS'),
       lpad((rrns.first + d.n - 1)::text, 12, '0'), '000001', $4, '156', $5
FROM due d, ids, rrns, terminals t WHERE t.terminal_code = $1
"""


# The realistic rules' versions of the load-test alliance, in force since the day before this
# month began (the back office sets today or later; this is the benchmark's own database).
_RULES_SINCE_LAST_MONTH_SQL = """
UPDATE earn_rule_sets r
SET effective_from = date_trunc('month', now() AT TIME ZONE a.timezone)::date - 1
FROM alliances a WHERE a.id = r.alliance_id AND a.code = $1 AND r.replaced_by IS NULL
  AND r.effective_from > date_trunc('month', now() AT TIME ZONE a.timezone)::date - 1
"""
_IN_FORCE_ALL_MONTH_SQL = """
SELECT count(*) FROM earn_rule_sets r JOIN alliances a ON a.id = r.alliance_id
WHERE a.code = $1 AND r.replaced_by IS NULL
  AND r.effective_from < date_trunc('month', now() AT TIME ZONE a.timezone)::date
"""
# Every points account of the alliance's cards counted 100 points today and this month
# (earning/counters.py's stored form: key << 40 | points), or none.
_COUNTERS_SQL = """
WITH today AS (
    SELECT a.id AS alliance_id, (now() AT TIME ZONE a.timezone)::date AS day FROM alliances a
    WHERE a.code = $1
)
UPDATE accounts p
SET counted_day = CASE WHEN $2 THEN ((t.day - date '0001-01-01' + 1)::bigint << 40) | $3 END,
    counted_month = CASE WHEN $2 THEN ((extract(year FROM t.day)::bigint * 12
                                        + extract(month FROM t.day)::bigint - 1) << 40) | $3 END
FROM cards c, today t
WHERE p.kind = 'member_points' AND p.card_id = c.id AND c.alliance_id = t.alliance_id
"""
_COUNTED_POINTS = 100


async def ensure_rules_since_last_month(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        if await connection.fetchval(_IN_FORCE_ALL_MONTH_SQL, ALLIANCE_CODE):
            return
        await ensure_rules(database_url, "realistic")
        await connection.execute(_RULES_SINCE_LAST_MONTH_SQL, ALLIANCE_CODE)
    finally:
        await connection.close()


async def ensure_counters(database_url: str, wanted: bool) -> int:
    """Today's counters on every card's points account (`wanted`), or none; returns how many
    accounts carry them."""
    if wanted:
        await ensure_rules_since_last_month(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(_COUNTERS_SQL, ALLIANCE_CODE, wanted, _COUNTED_POINTS)
        await connection.execute("VACUUM ANALYZE accounts")
        return int(await connection.fetchval(
            "SELECT count(*) FROM accounts WHERE counted_day IS NOT NULL"))
    finally:
        await connection.close()


async def ensure_purchases(database_url: str, wanted: bool) -> int:
    """A purchase an hour old for every card (`wanted`), or none; returns how many there are."""
    code = terminal_code(1)
    if wanted:
        await ensure_rules_since_last_month(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            if await connection.fetchval(_COUNT_SQL, code):
                # The benchmark's own database, whose journal is a fixture: its append-only
                # trigger (which guards a real journal) is set aside for this transaction,
                # which needs a superuser, as the embedded server's owner is.
                await connection.execute("SET LOCAL session_replication_role = replica")
                await connection.execute(_DELETE_SQL, code)
            if wanted:
                await connection.execute(_INSERT_SQL, code, ALLIANCE_CODE, _BATCH_NUMBER,
                                         _AMOUNT_FEN, _POINTS)
        await connection.execute("VACUUM ANALYZE transactions")
        return int(await connection.fetchval(_COUNT_SQL, code))
    finally:
        await connection.close()
