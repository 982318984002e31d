"""Logical replication between central and a partition's database (migration 031's
publications): a subscription made once, its initial copy waited for, its lag read.

A subscription lives in the subscriber's database and holds a slot in the publisher's; both are
named after the partition's number (`jifen_reference_p1`, `jifen_partition_out_p1`), which is
safe in SQL and in a slot's name whatever the partition's own name. Making one connects to the
publisher and waits there for the transactions running then to end (the slot's snapshot): the
caller must hold no transaction open on the publisher meanwhile.
"""

from __future__ import annotations

import anyio
import asyncpg

from database.connect import redact_url
from database.errors import PartitionError

REFERENCE_PUBLICATION = "jifen_reference"
OUTCOMES_PUBLICATION = "jifen_partition_out"
# Polling the initial copy's state: small against a copy of a few tables (a second or so).
COPY_POLL_INTERVAL_S = 0.05
# Making a subscription: the connection, and the publisher's running transactions ending.
SUBSCRIBE_TIMEOUT_S = 60.0


def subscription_name(publication: str, partition_number: int) -> str:
    assert 0 < partition_number <= 255, partition_number
    return f"{publication}_p{partition_number}"


async def subscribe(
    subscriber: asyncpg.Connection, publication: str, partition_number: int,
    publisher_url: str,
) -> bool:
    """Subscribe `subscriber`'s database to `publication` on the database of `publisher_url`
    (the replication login's), copying the rows already there; False when it exists already.
    Outside a transaction: CREATE SUBSCRIPTION makes the publisher's slot and cannot be in
    one."""
    name = subscription_name(publication, partition_number)
    exists = await subscriber.fetchval(
        "SELECT true FROM pg_subscription WHERE subname = $1"
        " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        name)
    if exists:
        return False
    conninfo = publisher_url.replace("'", "''")
    # The statement carries the replication login's password: a failing one must not be
    # written to the server's log (log_min_error_statement logs it at ERROR by default).
    await subscriber.execute("SET log_min_error_statement = panic")
    try:
        await subscriber.execute(
            f"CREATE SUBSCRIPTION {name} CONNECTION '{conninfo}' PUBLICATION {publication}",
            timeout=SUBSCRIBE_TIMEOUT_S)
    except TimeoutError:
        raise PartitionError(f"subscribing to {publication} on {redact_url(publisher_url)}"
                             f" took over {SUBSCRIBE_TIMEOUT_S:g} s") from None
    except asyncpg.PostgresError as exc:
        # The server's message names the publisher's host and user, never the statement.
        raise PartitionError(f"cannot subscribe to {publication} on"
                             f" {redact_url(publisher_url)}: {exc}") from None
    finally:
        await subscriber.execute("RESET log_min_error_statement")
    return True


async def wait_for_copy(
    subscriber: asyncpg.Connection, publication: str, partition_number: int, timeout_s: float,
) -> None:
    """Wait until every table of the subscription is copied and caught up ('r', ready)."""
    name = subscription_name(publication, partition_number)
    try:
        with anyio.fail_after(timeout_s):
            while True:
                waiting = await subscriber.fetchval(
                    "SELECT count(*) FILTER (WHERE r.srsubstate <> 'r') + (count(*) = 0)::int"
                    " FROM pg_subscription s LEFT JOIN pg_subscription_rel r"
                    " ON r.srsubid = s.oid WHERE s.subname = $1", name)
                if waiting == 0:
                    return
                await anyio.sleep(COPY_POLL_INTERVAL_S)
    except TimeoutError:
        raise PartitionError(
            f"subscription {name}'s initial copy not done within {timeout_s:g} s; see the"
            " subscriber's server log, then run the command again") from None


async def check_logical(connection: asyncpg.Connection, where: str) -> None:
    """Refuse a server that does not log row changes (wal_level, read at its start)."""
    level = await connection.fetchval("SHOW wal_level")
    if level != "logical":
        raise PartitionError(
            f"{where}'s server has wal_level = {level}; partitions need logical. The embedded"
            " server sets it at its next start (`jifen db stop`, then start); on a server of"
            " your own set it in postgresql.conf and restart")


async def slot_lag_bytes(publisher: asyncpg.Connection, slot_name: str) -> int | None:
    """How much of the publisher's WAL the slot's subscriber has not yet confirmed; None
    without the slot."""
    lag: int | None = await publisher.fetchval(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint"
        " FROM pg_replication_slots WHERE slot_name = $1", slot_name)
    return lag


async def refresh_subscriptions(subscriber: asyncpg.Connection) -> list[str]:
    """Every Jifen subscription of this database told to take its publication's tables anew
    (a migration added one): its new tables' rows are copied; the names refreshed. Outside a
    transaction, as CREATE SUBSCRIPTION."""
    names = [row["subname"] for row in await subscriber.fetch(
        "SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database"
        " WHERE datname = current_database()) AND (subname LIKE $1 OR subname LIKE $2)"
        " ORDER BY subname", f"{REFERENCE_PUBLICATION}\\_p%", f"{OUTCOMES_PUBLICATION}\\_p%")]
    for name in names:
        await subscriber.execute(f"ALTER SUBSCRIPTION {name} REFRESH PUBLICATION",
                                 timeout=SUBSCRIBE_TIMEOUT_S)
    return names
