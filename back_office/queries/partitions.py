"""The back office's reads of every partition (docs/plans/partitions.md §2, "Queries"): a
card's statement and `txn find` read central's journal on their own connection and each other
partition's through `partition_fetch`, then merge.

Each partition is read in a READ ONLY transaction of its own (`read_only`), as jifen_audit
(operators log in on central only). A partition that cannot be read fails the query, naming
it: a statement or a page without one partition's rows would be wrong without saying so.

An operator whose rows row-level security narrows (a merchant admin) reads other partitions
narrowed the same way: `narrowed_to_merchant` reads the operator's merchant on central, under
its own login, and each partition's transaction takes the role jifen_merchant_reader with that
merchant, under the merchant admin's own policies (migration 041).
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import asyncpg
import msgspec

from back_office.queries.errors import PartitionReadError
from back_office.queries.read_only import read_only
from database.connect import connect
from database.errors import DatabaseUnavailableError

# A partition's reads: the statement timeout of each (read_only.py), and a few more seconds
# for the connection and the round trips; a server that does not answer by then is down.
PARTITION_READ_S_MAX = 15.0
# Closing a connection at the end: a moment; a server that does not answer is let go.
CLOSE_TIMEOUT_S = 5.0

Query = tuple[str, Sequence[object]]          # SQL and its arguments


class OtherPartitions(msgspec.Struct, frozen=True):
    """Every partition but central's: name -> URL as jifen_audit, in number order."""

    urls: dict[str, str]
    connect_timeout_s: float
    # Read as jifen_merchant_reader with this merchant (None: the operator's is unknown or
    # inactive, and the reader reads nothing), for a merchant admin; else as jifen_audit.
    narrowed: bool = False
    merchant_id: int | None = None


NO_OTHER_PARTITIONS = OtherPartitions({}, 0.0)
MERCHANT_READER = "jifen_merchant_reader"

# A row-level-security-narrowed operator (docs/back-office.md), a merchant admin, and its
# merchant as the policies see it on central.
_NARROWED_SQL = """
SELECT current_setting('is_superuser') <> 'on'
       AND pg_has_role(current_user, 'jifen_op_merchant_admin', 'MEMBER') AS narrowed,
       operator_merchant_id() AS merchant_id
"""
_NARROW_SQL = "SELECT set_config('jifen.reader_merchant_id', $1, true)"


async def narrowed_to_merchant(
    connection: asyncpg.Connection, partitions: OtherPartitions,
) -> OtherPartitions:
    """`partitions`, narrowed to the operator's merchant when row-level security narrows the
    operator on `connection` (central's, in its read-only transaction)."""
    if not partitions.urls:
        return partitions
    row = await connection.fetchrow(_NARROWED_SQL)
    assert row is not None, "a SELECT without FROM gives one row"
    if not row["narrowed"]:
        return partitions
    return msgspec.structs.replace(partitions, narrowed=True, merchant_id=row["merchant_id"])


async def _narrow(connection: asyncpg.Connection, partitions: OtherPartitions) -> None:
    """Inside the partition's transaction: the merchant admin's policies from here on."""
    merchant = "" if partitions.merchant_id is None else str(partitions.merchant_id)
    await connection.execute(_NARROW_SQL, merchant)
    await connection.execute(f"SET LOCAL ROLE {MERCHANT_READER}")


async def partition_fetch(
    partitions: OtherPartitions, queries: Sequence[Query],
) -> dict[str, list[list[asyncpg.Record]]]:
    """Name -> the rows of each query, run in one read-only transaction on each partition's
    database, all partitions at once."""
    results: dict[str, list[list[asyncpg.Record]]] = {}

    async def fetch(name: str, url: str) -> None:
        try:
            with anyio.fail_after(PARTITION_READ_S_MAX):
                connection = await connect(url, partitions.connect_timeout_s)
                try:
                    async with read_only(connection):
                        if partitions.narrowed:
                            await _narrow(connection, partitions)
                        results[name] = [await connection.fetch(sql, *arguments)
                                         for sql, arguments in queries]
                finally:
                    with anyio.CancelScope(shield=True):
                        await connection.close(timeout=CLOSE_TIMEOUT_S)
        except (DatabaseUnavailableError, asyncpg.PostgresError, asyncpg.InterfaceError,
                OSError, TimeoutError) as exc:
            raise PartitionReadError(
                f"partition {name} could not be read ({exc or type(exc).__name__}): the"
                " answer would miss its rows") from exc

    try:
        async with anyio.create_task_group() as group:
            for name, url in partitions.urls.items():
                group.start_soon(fetch, name, url)
    except ExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 (each keeps its own cause)
    return {name: results[name] for name in partitions.urls}
