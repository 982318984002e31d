"""The back office's reads of every partition (docs/plans/partitions.md §2, "Queries"): a
card's statement and `txn find` read central's journal on their own connection and each other
partition's through `partition_fetch`, then merge.

Each partition is read in a READ ONLY transaction of its own (`read_only`), as jifen_audit
(operators log in on central only). A partition that cannot be read fails the query, naming
it: a statement or a page without one partition's rows would be wrong without saying so. An
operator whose rows row-level security narrows (a merchant admin) is refused a read of other
partitions, where it would read as jifen_audit, unnarrowed.
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


NO_OTHER_PARTITIONS = OtherPartitions({}, 0.0)

# A row-level-security-narrowed operator (docs/back-office.md): a merchant admin.
_NARROWED_SQL = """
SELECT current_setting('is_superuser') <> 'on'
       AND pg_has_role(current_user, 'jifen_op_merchant_admin', 'MEMBER')
"""


async def check_may_read_partitions(
    connection: asyncpg.Connection, partitions: OtherPartitions,
) -> None:
    if partitions.urls and await connection.fetchval(_NARROWED_SQL):
        raise PartitionReadError(
            "a merchant admin reads central's partition only, and this system has others"
            f" ({', '.join(partitions.urls)}): ask an HQ admin or an auditor")


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
