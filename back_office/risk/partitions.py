"""Where a risk review lives. Each partition's host writes the reviews it raises into its own
database, and a review's id is unique in that database only: a review is named by its
partition and id, `p2:17`. Central's reviews keep their bare ids (`17`, or `main:17`), so a
system of one partition names them as before.

The queue and a review are read in each partition as jifen_audit, decided there as
jifen_back_office (operators log in on central only; docs/plans/partitions.md §1, "Roles").
"""

from __future__ import annotations

import asyncpg
import msgspec

from back_office.partition_writes import NO_PARTITION_WRITES, WriteTargets
from back_office.provisioning.errors import InvalidValueError, NotFoundError
from back_office.queries.partitions import NO_OTHER_PARTITIONS, OtherPartitions

_CENTRAL_SQL = "SELECT name FROM partitions WHERE number = 0"


class ReviewPartitions(msgspec.Struct, frozen=True):
    """Central's partition's name and every other partition, to read and to decide in."""

    central: str | None              # None: only central (no name needed)
    reads: OtherPartitions           # as jifen_audit
    writes: WriteTargets             # as jifen_back_office (resolved when first needed)

    @property
    def others(self) -> list[str]:
        return list(self.reads.urls)


ONLY_CENTRAL = ReviewPartitions(None, NO_OTHER_PARTITIONS, NO_PARTITION_WRITES)


class ReviewRef(msgspec.Struct, frozen=True):
    """A review's name: its partition (None: central's) and its id there."""

    partition: str | None
    id: int

    def __str__(self) -> str:
        return str(self.id) if self.partition is None else f"{self.partition}:{self.id}"


def parse_ref(text: str) -> ReviewRef:
    """`17` or `p2:17` (as `jifen risk queue` shows them)."""
    partition, _, number = text.rpartition(":")
    if not number.isdigit() or (partition == "" and ":" in text):
        raise InvalidValueError(f"{text!r}: a review is its id (17), or its partition's name"
                                " and id (p2:17), as `jifen risk queue` shows it")
    return ReviewRef(partition or None, int(number))


def resolve(ref: ReviewRef, partitions: ReviewPartitions) -> ReviewRef:
    """`ref` with central's partition as None; NotFoundError for a partition not known."""
    if ref.partition is None or ref.partition == partitions.central:
        return ReviewRef(None, ref.id)
    if ref.partition not in partitions.reads.urls:
        known = ", ".join(filter(None, [partitions.central, *partitions.others]))
        raise NotFoundError(f"no partition {ref.partition} (partitions: {known or 'central'});"
                            " `jifen risk queue` names each review's")
    return ref


async def review_partitions(
    conn: asyncpg.Connection, reads: OtherPartitions, writes: WriteTargets,
) -> ReviewPartitions:
    """The system's partitions for the risk commands; ONLY_CENTRAL when there are no others."""
    if not reads.urls:
        return ONLY_CENTRAL
    return ReviewPartitions(await conn.fetchval(_CENTRAL_SQL), reads, writes)
