"""The nightly baseline (`jifen risk baseline`, jifen-risk-baseline.timer): each card's and
merchant's average points per day over the 30 business dates through a date, for every
alliance whose risk settings have growth levels, into risk_baselines, which the account host
loads (NOTIFY risk_baselines). One grouped read over the business-date index per alliance;
the host never averages anything itself.

Per partition: a host judges growth against its own partition's history, so each partition's
averages come from its own journal and are written into its own database (migration 040:
risk_baselines are no longer replicated from central), there as jifen_back_office. A
partition that cannot be reached fails the run, naming it, after the partitions before it
are done (each alliance's rows are replaced whole: the run is safe to repeat)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.partition_writes import NO_PARTITION_WRITES, PartitionWriteUrls, unwritable
from back_office.provisioning.notify import notify_change
from database.connect import connect
from database.errors import DatabaseUnavailableError
from proto.changes import Change, Table

BASELINE_DAYS = 30
# One partition's averages of every alliance: a grouped read of 30 days of its journal, some
# minutes at 10^7 transactions a day; half an hour means it hangs (the unit's own limit).
PARTITION_BASELINE_S_MAX = 1_800.0
# Closing a partition's connection: a moment; a server that does not answer is let go.
CLOSE_TIMEOUT_S = 5.0
# What a card or merchant earns, or issues, in points (account_host/movements.py).
_EARNING_KINDS = ["purchase", "stored_value_purchase", "offline_purchase"]

_ALLIANCES_SQL = """
SELECT DISTINCT ON (s.alliance_id) s.alliance_id, a.code, a.timezone,
       s.growth_warning_multiple
FROM risk_settings s JOIN alliances a ON a.id = s.alliance_id
ORDER BY s.alliance_id, s.version DESC
"""
# Earned points of the alliance's merchants' transactions on the dates [$2, $3], by card and
# by merchant, over 30 days (rounded down; a row of 0 is not written).
_BASELINE_SQL = """
INSERT INTO risk_baselines (alliance_id, subject, subject_id, through_date, points_per_day)
SELECT $1, CASE WHEN grouping(t.card_id) = 0 THEN 'card' ELSE 'merchant' END,
       coalesce(t.card_id, t.merchant_id), $3, div(sum(t.points), $4::integer)::bigint
FROM transactions t JOIN merchants m ON m.id = t.merchant_id
WHERE t.business_date BETWEEN $2 AND $3 AND m.alliance_id = $1
  AND t.kind = ANY($5::text[]) AND t.points > 0
GROUP BY GROUPING SETS ((t.card_id), (t.merchant_id))
HAVING div(sum(t.points), $4::integer) > 0 AND (t.card_id IS NOT NULL OR t.merchant_id IS NOT NULL)
"""


class BaselineRun(msgspec.Struct, frozen=True, omit_defaults=True):
    alliance_code: str
    through: date
    cards: int
    merchants: int
    # The partition whose journal and database; None (left out of the JSON) with only one.
    partition: str | None = None


class _Alliance(msgspec.Struct, frozen=True):
    id: int
    code: str
    through: date


async def compute_baselines(
    conn: asyncpg.Connection, through: date | None = None,
    partitions: PartitionWriteUrls = NO_PARTITION_WRITES,
) -> list[BaselineRun]:
    """Every growth-checked alliance's baselines through `through` (default: the alliance's
    local yesterday), in central's database from its journal, then in each other partition's
    from its own; each alliance's rows replaced in one transaction; safe to repeat."""
    alliances = [
        _Alliance(row["alliance_id"], row["code"], through or (
            datetime.now(UTC).astimezone(ZoneInfo(row["timezone"])).date()
            - timedelta(days=1)))
        for row in await conn.fetch(_ALLIANCES_SQL) if row["growth_warning_multiple"] is not None]
    central = None if not partitions.urls else await conn.fetchval(
        "SELECT name FROM partitions WHERE number = 0")
    runs = []
    for alliance in alliances:
        async with conn.transaction():
            run = await _replace(conn, alliance, central)
            await _record(conn, run)
        runs.append(run)
    for name, url in partitions.urls.items():
        for run in await _on_partition(name, url, partitions.connect_timeout_s, alliances):
            async with conn.transaction():
                await _record(conn, run)
            runs.append(run)
    return runs


async def _on_partition(
    name: str, url: str, connect_timeout_s: float, alliances: list[_Alliance],
) -> list[BaselineRun]:
    """The alliances' baselines in partition `name`'s database, from its journal."""
    runs = []
    try:
        with anyio.fail_after(PARTITION_BASELINE_S_MAX):
            connection = await connect(url, connect_timeout_s)
            try:
                for alliance in alliances:
                    async with connection.transaction():
                        runs.append(await _replace(connection, alliance, name))
            finally:
                with anyio.CancelScope(shield=True):
                    await connection.close(timeout=CLOSE_TIMEOUT_S)
    except (DatabaseUnavailableError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError,
            TimeoutError) as exc:
        raise unwritable(name, exc) from exc
    return runs


async def _replace(
    connection: asyncpg.Connection, alliance: _Alliance, partition: str | None,
) -> BaselineRun:
    """The alliance's rows in this database replaced from its journal, in the caller's
    transaction, and the host told (NOTIFY risk_baselines, on commit)."""
    last = alliance.through
    await connection.execute("DELETE FROM risk_baselines WHERE alliance_id = $1", alliance.id)
    await connection.execute(_BASELINE_SQL, alliance.id,
                             last - timedelta(days=BASELINE_DAYS - 1), last,
                             BASELINE_DAYS, _EARNING_KINDS)
    counts: dict[str, int] = {row["subject"]: row["count"] for row in await connection.fetch(
        "SELECT subject, count(*) FROM risk_baselines WHERE alliance_id = $1"
        " GROUP BY subject", alliance.id)}
    await notify_change(connection, Change(Table.RISK_BASELINES))
    return BaselineRun(alliance.code, last, counts.get("card", 0), counts.get("merchant", 0),
                       partition)


async def _record(conn: asyncpg.Connection, run: BaselineRun) -> None:
    """The run's audit row, on central (the audit trail is central's)."""
    after: dict[str, object] = {"through": str(run.through), "cards": run.cards,
                                "merchants": run.merchants}
    if run.partition is not None:
        after["partition"] = run.partition
    await record(conn, "risk.baseline", "alliance", run.alliance_code, after=after)
