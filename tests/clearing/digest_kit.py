"""What the digest's tests share: days of traffic written by SQL in the host's shape
(synthetic.py) with expiries and members added, the digest and the audit over the CLI, and
the digest's figures computed again from the journal by SQL of their own."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, date, datetime, timedelta

import asyncpg

from clearing.alliance import find_alliance
from tests.clearing.synthetic import ALLIANCE, Day, Journal

# Three dates of traffic, long closed whatever the hour (the nightly seals the last), and the
# days of a trend before them.
LAST = datetime.now(UTC).date() - timedelta(days=20)
DATES = [LAST - timedelta(days=2), LAST - timedelta(days=1), LAST]
TREND_DAYS = 5
ISSUE_PRICE_FEN = "0.755"         # a fraction of a fen: the liability's yuan are rounded
# (operation, merchant index, card index, amount) per date, as synthetic.Day applies them.
TRAFFIC = {
    DATES[0]: [("purchase", 0, 0, 12_000), ("purchase", 1, 1, 3_333), ("load", 2, 2, 50_000),
               ("spend", 1, 2, 7_000), ("purchase", 2, 3, 999)],
    DATES[1]: [("redemption", 0, 0, 1_000), ("purchase", 1, 2, 20_000), ("exchange", 0, 1, 500),
               ("reverse", 0, 0, 0), ("purchase", 0, 0, 4_000)],
    DATES[2]: [("purchase", 0, 1, 7_777), ("purchase", 1, 0, 2_500), ("redemption", 2, 2, 300),
               ("load", 0, 3, 10_000), ("spend", 2, 3, 2_345), ("purchase", 2, 0, 15_001),
               ("reverse", 0, 1, 0)],
}
# (date, card index, points) expired: a sweep's expiry, no terminal (docs/ledger.md).
EXPIRIES = [(DATES[1], 1, 700), (DATES[2], 2, 150)]

_RULE_SQL = """
INSERT INTO settlement_rules (alliance_id, merchant_id, effective_from, issue_price_fen,
                              redemption_rate_fen, commission_bp, commission_fen_per_txn)
VALUES ($1, NULL, DATE '2000-01-01', $2::numeric, 0.9, 50, 0)
"""
_MEMBER_SQL = """
INSERT INTO members (alliance_id, name, mobile_hmac, mobile_sealed, mobile_masked, joined_on,
                     created_at)
VALUES ($1, $2, $3, '\\x00'::bytea, '138****0000', $4::timestamptz::date, $4) RETURNING id
"""


async def write_days(url: str) -> Journal:
    """The three dates' traffic, two expiries, a rule, three members (two cards of one, one
    card of another, one card of nobody; one member created on LAST, one the day before and
    one at LAST's cutover, so on the next date) and the terminals' batches: SYNTERM1's
    reconciled, SYNTERM2's out of balance, SYNTERM3's never closed."""
    connection = await asyncpg.connect(url)
    try:
        journal = await Journal.create(connection)
        await connection.execute(_RULE_SQL, journal.alliance_id, ISSUE_PRICE_FEN)
        for day in DATES:
            traffic = Day(journal, day)
            for operation, merchant, card, amount in TRAFFIC[day]:
                traffic.apply(operation, merchant, card, amount)
            await traffic.write(connection)
            for expiry_date, card, points in EXPIRIES:
                if expiry_date == day:
                    await expire(connection, journal, day, journal.card_ids[card], points)
        alliance = await find_alliance(connection, ALLIANCE)
        created = [alliance.closes_at(LAST) - timedelta(hours=1),
                   alliance.closes_at(LAST - timedelta(days=1)) - timedelta(seconds=1),
                   alliance.closes_at(LAST)]
        members = [await connection.fetchval(
            _MEMBER_SQL, journal.alliance_id, f"Member {n}", hashlib.sha256(bytes([n])).digest(),
            at) for n, at in enumerate(created)]
        # Terminal 1's batch reconciled, terminal 2's out of balance, terminal 3's open.
        now = datetime.now(UTC)
        await connection.executemany(
            "INSERT INTO terminal_batches (terminal_code, batch_number, opened_at, closed_at,"
            " result_code) VALUES ($1, 1, $2, $3, $4)",
            [("SYNTERM1", now - timedelta(hours=1), now + timedelta(hours=1), "00"),
             ("SYNTERM2", now - timedelta(hours=1), now + timedelta(hours=1), "95")])
        owners = [members[0], members[0], members[1], None]
        for card_id, member_id in zip(journal.card_ids, owners, strict=True):
            await connection.execute("UPDATE cards SET member_id = $2 WHERE id = $1",
                                     card_id, member_id)
    finally:
        await connection.close()
    return journal


async def expire(connection: asyncpg.Connection, journal: Journal, day: date, card_id: int,
                 points: int) -> None:
    """A points_expiry transaction as the host books it: the card's points to breakage, with
    the lot it removed (a lot day, then the points moved, as lot_moves holds them)."""
    member = journal.account("member_points", card_id)
    breakage = journal.account("alliance_breakage", journal.alliance_id)
    transaction_id, entry_id = journal.next_id(), journal.next_id()
    async with connection.transaction():
        await connection.executemany(
            "INSERT INTO accounts (id, ledger, kind, card_id, merchant_id, alliance_id, balance)"
            " VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT DO NOTHING",
            [journal.rows[member], journal.rows[breakage]])
        await connection.execute(
            "INSERT INTO transactions (id, kind, business_date, posted_at, card_id, amount,"
            " currency, points, lot_moves) VALUES ($1, 'points_expiry', $2, $3, $4, $5, '999',"
            " $6, $7)", transaction_id, day, datetime.now(UTC), card_id, points, -points,
            struct.pack(">iq", day.toordinal(), -points))
        await connection.execute("INSERT INTO journal_entries (id, transaction_id, ledger,"
                                 " business_date) VALUES ($1, $2, 'points', $3)",
                                 entry_id, transaction_id, day)
        await connection.executemany(
            "INSERT INTO postings (entry_id, account_id, amount) VALUES ($1, $2, $3)",
            [(entry_id, member, -points), (entry_id, breakage, points)])
        journal.balances[member] -= points
        journal.balances[breakage] += points
        await connection.executemany("UPDATE accounts SET balance = $2 WHERE id = $1",
                                     [(member, journal.balances[member]),
                                      (breakage, journal.balances[breakage])])


# The counter accounts' sums of a date by kind, straight from the postings (not through
# clearing's ranges or counter list): what the digest's flows must be made of.
_COUNTER_SUMS_SQL = """
SELECT a.kind, sum(p.amount)::bigint AS amount
FROM postings p JOIN journal_entries e ON e.id = p.entry_id JOIN accounts a ON a.id = p.account_id
LEFT JOIN merchants m ON m.id = a.merchant_id
WHERE e.business_date = $1 AND a.card_id IS NULL
  AND coalesce(a.alliance_id, m.alliance_id) = (SELECT id FROM alliances WHERE code = $2)
GROUP BY a.kind
"""
# The members' points through a date: the other side of the ledger.
_MEMBERS_POINTS_SQL = """
SELECT coalesce(sum(p.amount), 0)::bigint
FROM postings p JOIN journal_entries e ON e.id = p.entry_id JOIN accounts a ON a.id = p.account_id
JOIN cards c ON c.id = a.card_id
WHERE a.kind = 'member_points' AND e.business_date <= $1
  AND c.alliance_id = (SELECT id FROM alliances WHERE code = $2)
"""
_ACTIVE_SQL = """
SELECT count(DISTINCT c.member_id)
FROM transactions t JOIN cards c ON c.id = t.card_id
WHERE t.business_date = $1 AND t.terminal_code IS NOT NULL
  AND EXISTS (SELECT 1 FROM journal_entries e WHERE e.transaction_id = t.id)
  AND c.alliance_id = (SELECT id FROM alliances WHERE code = $2)
"""


async def expected_flows(url: str, day: date, alliance: str = ALLIANCE) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        sums = {row["kind"]: row["amount"] for row in
                await connection.fetch(_COUNTER_SUMS_SQL, day, alliance)}
    finally:
        await connection.close()
    return {
        "points_issued": -sums.get("merchant_points_issued", 0),
        "points_given": -(sums.get("alliance_points_bonus", 0)
                          + sums.get("alliance_points_adjusted", 0)
                          + sums.get("alliance_points_lottery", 0)),
        "points_redeemed": sums.get("merchant_points_redeemed", 0),
        "points_exchanged": sums.get("alliance_points_exchanged", 0),
        "points_expired": sums.get("alliance_breakage", 0),
        "stored_value_loaded_fen": -sums.get("merchant_stored_value_loaded", 0),
        "stored_value_spent_fen": sums.get("merchant_stored_value_spent", 0),
    }


async def members_points(url: str, day: date, alliance: str = ALLIANCE) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(_MEMBERS_POINTS_SQL, day, alliance)
    finally:
        await connection.close()


async def active_members(url: str, day: date, alliance: str = ALLIANCE) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(_ACTIVE_SQL, day, alliance)
    finally:
        await connection.close()
