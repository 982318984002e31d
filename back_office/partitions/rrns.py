"""`jifen partition rrns NAME`: one more range of RRNs for a partition whose ranges run low.

A host issues RRNs only from its partition's `rrn_ranges` (migration 029) and answers 96 once
they are spent; its `jifen_host_rrns_unreserved` gauge says how many are left. The new range is
the next 10^9 above every range (ranges never overlap: an RRN names the partition that issued
it), added on central, from where logical replication brings it to the partition; the host
takes it at its next reservation, without a restart.
"""

from __future__ import annotations

import asyncpg
import msgspec

from back_office.partitions.add import RRN_LAST, append_rrn_range
from database import connect
from database.errors import PartitionError


class RrnRangeAdded(msgspec.Struct, frozen=True):
    partition: str
    first_rrn: int
    last_rrn: int


async def add_rrn_range(name: str, central_url: str, timeout_s: float) -> RrnRangeAdded:
    """Give partition `name` the next RRN_RANGE_SIZE RRNs; PartitionError when it is not a
    partition, when one range still spans the rest of the RRN space (no partition added yet:
    nothing is short), or when the space is spent."""
    central = await connect(central_url, timeout_s)
    try:
        await central.execute(f"SET lock_timeout = {max(1, int(timeout_s * 1000))}")
        async with central.transaction():
            # Against a concurrent `partition rrns` or `partition add`: one new range at a time.
            await central.execute("LOCK TABLE rrn_ranges IN SHARE ROW EXCLUSIVE MODE")
            if await central.fetchval("SELECT 1 FROM partitions WHERE name = $1", name) is None:
                raise PartitionError(f"no partition {name} (`jifen partition list`)")
            top = await central.fetchrow(
                "SELECT partition, last_rrn FROM rrn_ranges ORDER BY last_rrn DESC LIMIT 1")
            if top is not None and top["last_rrn"] == RRN_LAST:
                raise PartitionError(
                    f"partition {top['partition']}'s range runs to the last RRN: it is the only"
                    " partition, with the whole RRN space; ranges are added once a second"
                    " partition is (`jifen partition add`)")
            first = 1 if top is None else top["last_rrn"] + 1
            last = await append_rrn_range(central, name, first, "no range of 10^9 left")
    except asyncpg.PostgresError as exc:
        raise PartitionError(f"adding an RRN range to partition {name} failed: {exc}") from exc
    finally:
        await central.close()
    return RrnRangeAdded(name, first, last)
