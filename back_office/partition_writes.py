"""The back office's writes in another partition's database (docs/plans/partitions.md §1,
"Roles": operators log in on central only; the back office writes a partition as
jifen_back_office): a risk review the partition's host raised, decided on central.

A decision spans two databases, with no transaction over both. Central's transaction (the
operator's checks, an approval, a card's unblock, the audit row) commits first, then the
partition's, whose rows stay locked meanwhile: a failure in between leaves the partition's row
as it was (a review still open, decided again later at once), never the partition changed
for a central decision that did not commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import asyncpg
import msgspec
from asyncpg.transaction import Transaction

from back_office.provisioning.errors import NotFoundError, PartitionWriteError
from database.connect import connect
from database.errors import DatabaseUnavailableError

# Closing a connection at the end: a moment; a server that does not answer is let go.
CLOSE_TIMEOUT_S = 5.0
# A partition's statements are a lock and an update of one row: a server that takes longer
# is not answering (also the lock's wait behind another decision of the same row).
STATEMENT_TIMEOUT_S = 15.0


class PartitionWriteUrls(msgspec.Struct, frozen=True):
    """Every partition but central's: name -> URL as jifen_back_office, in number order."""

    urls: dict[str, str]
    connect_timeout_s: float


NO_PARTITION_WRITES = PartitionWriteUrls({}, 0.0)
# The URLs, or how to find them when first needed (an approval whose action writes in no
# partition, most of them, then resolves no partition's login).
WriteTargets = PartitionWriteUrls | Callable[[], Awaitable[PartitionWriteUrls]]


class PartitionWrites:
    """The partitions' transactions opened for one decision, committed after central's."""

    def __init__(self, targets: WriteTargets) -> None:
        self._targets = targets
        self._open: dict[str, tuple[asyncpg.Connection, Transaction]] = {}

    async def on(self, name: str) -> asyncpg.Connection:
        """A connection to partition `name` inside a transaction of its own (opened once)."""
        if name in self._open:
            return self._open[name][0]
        if not isinstance(self._targets, PartitionWriteUrls):
            self._targets = await self._targets()
        partitions = self._targets
        url = partitions.urls.get(name)
        if url is None:
            raise NotFoundError(f"no partition {name}: `jifen partition list` names them")
        try:
            with anyio.fail_after(partitions.connect_timeout_s + STATEMENT_TIMEOUT_S):
                connection = await connect(url, partitions.connect_timeout_s)
                transaction = connection.transaction()
                await transaction.start()
                await connection.execute(
                    f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_S * 1000)}")
        except (DatabaseUnavailableError, asyncpg.PostgresError, asyncpg.InterfaceError,
                OSError, TimeoutError) as exc:
            raise unwritable(name, exc) from exc
        self._open[name] = (connection, transaction)
        return connection

    async def _end(self, commit: bool) -> None:
        failed: list[tuple[str, BaseException]] = []
        for name, (connection, transaction) in self._open.items():
            try:
                with anyio.fail_after(STATEMENT_TIMEOUT_S):
                    await (transaction.commit() if commit else transaction.rollback())
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError,
                    TimeoutError) as exc:
                failed.append((name, exc))
            finally:
                with anyio.CancelScope(shield=True):
                    await connection.close(timeout=CLOSE_TIMEOUT_S)
        self._open.clear()
        if commit and failed:
            name, error = failed[0]
            raise PartitionWriteError(
                f"partition {name} did not commit ({error or type(error).__name__}): central's"
                " part is done, the partition's row is unchanged; decide it again")


@asynccontextmanager
async def partition_writes(targets: WriteTargets) -> AsyncIterator[PartitionWrites]:
    """Writes in other partitions, committed when the block ends (after the caller's central
    transaction inside it), rolled back when it raises."""
    writes = PartitionWrites(targets)
    try:
        yield writes
    except BaseException:
        with anyio.CancelScope(shield=True):
            await writes._end(commit=False)
        raise
    await writes._end(commit=True)


def unwritable(name: str, exc: BaseException) -> PartitionWriteError:
    return PartitionWriteError(
        f"partition {name} could not be reached ({exc or type(exc).__name__}): nothing was"
        " decided; try again once it answers")
