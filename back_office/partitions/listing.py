"""`jifen partition list`: each partition with its RRN ranges and what its replication has not
yet delivered, each way (docs/operations.md, "Partitions").

The lag is read from the publishers' slots: bytes of WAL the subscriber has not confirmed. A
partition whose database cannot be reached is listed as such, not dropped: the list is what an
operator looks at when something is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import msgspec

from database import DatabaseUnavailableError, connect
from database.partitions import CENTRAL_NUMBER, Partition
from database.replication import (
    OUTCOMES_PUBLICATION,
    REFERENCE_PUBLICATION,
    slot_lag_bytes,
    subscription_name,
)


class RrnRange(msgspec.Struct, frozen=True):
    first_rrn: int
    last_rrn: int


class PartitionRow(msgspec.Struct, frozen=True):
    name: str
    number: int
    state: str
    rrn_ranges: list[RrnRange]
    # The next RRN its host would take (its own counter; None: its database not reachable),
    # and how many its ranges hold from there (docs/plans/partitions.md open question 6).
    rrn_next: int | None
    rrns_left: int | None
    # Bytes of central's WAL the partition has not confirmed (its reference data), and of the
    # partition's WAL central has not (its outcomes); None for central, or not reachable.
    reference_lag_bytes: int | None
    outcomes_lag_bytes: int | None
    reachable: bool


async def list_partitions(
    central_url: str, partitions: list[Partition], urls: Mapping[str, str], timeout_s: float,
) -> list[PartitionRow]:
    """One row per partition; `urls` are the administrator's (database/partitions.py)."""
    central = await connect(central_url, timeout_s)
    try:
        await central.execute(f"SET statement_timeout = {max(1, int(timeout_s * 1000))}")
        ranges = await central.fetch(
            "SELECT partition, first_rrn, last_rrn FROM rrn_ranges ORDER BY first_rrn")
        rows = []
        for partition in partitions:
            own = [RrnRange(r["first_rrn"], r["last_rrn"]) for r in ranges
                   if r["partition"] == partition.name]
            reference_lag = None
            if partition.number != CENTRAL_NUMBER:
                reference_lag = await slot_lag_bytes(
                    central, subscription_name(REFERENCE_PUBLICATION, partition.number))
            rrn_next, outcomes_lag, reachable = await _partition_side(
                partition, urls[partition.name], timeout_s)
            left = None if rrn_next is None else rrns_left(own, rrn_next)
            rows.append(PartitionRow(partition.name, partition.number, partition.state, own,
                                     rrn_next, left, reference_lag, outcomes_lag, reachable))
        return rows
    finally:
        await central.close()


def rrns_left(ranges: list[RrnRange], rrn_next: int) -> int:
    """The RRNs a host whose counter is at `rrn_next` may still issue: the rest of the range it
    is in and the ranges above (account_host/identifiers.py reserves from the counter, or a
    range's first RRN when the counter is below it)."""
    return sum(max(0, r.last_rrn - max(r.first_rrn, rrn_next) + 1) for r in ranges)


async def _partition_side(
    partition: Partition, url: str, timeout_s: float,
) -> tuple[int | None, int | None, bool]:
    try:
        connection = await connect(url, timeout_s)
    except DatabaseUnavailableError:
        return None, None, False
    try:
        with anyio.fail_after(timeout_s):
            rrn_next = await connection.fetchval(
                "SELECT next_value FROM host_counters WHERE name = 'rrn'")
            lag = None
            if partition.number != CENTRAL_NUMBER:
                lag = await slot_lag_bytes(
                    connection, subscription_name(OUTCOMES_PUBLICATION, partition.number))
        return rrn_next, lag, True
    except TimeoutError:
        return None, None, False
    finally:
        await connection.close()
