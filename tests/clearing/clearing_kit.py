"""What the clearing tests share: a clock to seal dates with, a third merchant and terminals
for the e2e day, and a way to move the running host onto a fresh business date.

The host runs on the real clock. A test seals today's date with a clock a few days ahead
(close_day takes `now`), so the host moves on to tomorrow's date whatever the hour: traffic
then lands on one known date even if the real cutover passes during the test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import anyio
import asyncpg

from clearing import close_day, find_alliance
from devices.terminal_client import TerminalClient
from tests.e2e.system import CARDS, MERCHANT, TERMINAL, RunningSystem

ALLIANCE = "TEST"
# The e2e seed's two merchants, and a third added here; one terminal each.
MERCHANT_A = MERCHANT                    # earns 1 point per yuan, terminal TERM0001
MERCHANT_B = "MERCHANT0000002"           # earns 2 points per yuan
MERCHANT_C = "MERCHANT0000003"           # earns 1 point per yuan
TERMINAL_A = TERMINAL
TERMINAL_B = "TERM0003"
TERMINAL_C = "TERM0004"
WAIT_S = 10.0
# A purchase this small earns no point: a transaction row, no journal entry. It shows which
# business date the host posts to without touching what clearing reads.
PROBE_AMOUNT_FEN = 50

EXTRA_SEED_SQL = f"""
INSERT INTO merchants (merchant_code, alliance_id, name, earn_points_per_yuan)
VALUES ('{MERCHANT_C}', (SELECT id FROM alliances WHERE code = 'TEST'), 'Bakery', 1);
INSERT INTO terminals (terminal_code, merchant_id, requires_mac)
SELECT t, (SELECT id FROM merchants WHERE merchant_code = m), false
FROM (VALUES ('{TERMINAL_B}', '{MERCHANT_B}'), ('{TERMINAL_C}', '{MERCHANT_C}')) AS x(t, m);
"""


def clock_in(days: int) -> datetime:
    """The real time moved `days` on: a clock at which today's dates are long closed."""
    return datetime.now(UTC) + timedelta(days=days)


async def seed_extra(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(EXTRA_SEED_SQL)
    finally:
        await connection.close()


async def seal(database_url: str, day: date, now: datetime | None = None) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await close_day(connection, ALLIANCE, day, now or clock_in(5), "test")
    finally:
        await connection.close()


async def todays_date(database_url: str) -> date:
    connection = await asyncpg.connect(database_url)
    try:
        return (await find_alliance(connection, ALLIANCE)).open_date(datetime.now(UTC))
    finally:
        await connection.close()


async def probe_date(system: RunningSystem, terminal: TerminalClient) -> date:
    """The business date the host posts to now (a purchase that earns nothing)."""
    answer = await terminal.purchase(CARDS[-1], PROBE_AMOUNT_FEN)
    assert answer["39"] == "00", answer
    return await system.fetchval(
        "SELECT business_date FROM transactions WHERE rrn = $1", answer["37"])


async def move_host_past(system: RunningSystem, terminal: TerminalClient, day: date) -> date:
    """Seal `day` and wait until the host posts to the day after: it learns of the seal
    through LISTEN, asynchronously, and only what it posts shows that."""
    await seal(system.database_url, day)
    with anyio.fail_after(WAIT_S):
        while (posted := await probe_date(system, terminal)) <= day:
            await anyio.sleep(0.02)
    assert posted == day + timedelta(days=1)
    return posted


async def fresh_date(system: RunningSystem, terminal: TerminalClient) -> date:
    """Seal today's date so that everything from now on posts to tomorrow's: the date D a
    test's traffic lands on."""
    return await move_host_past(system, terminal, await todays_date(system.database_url))
