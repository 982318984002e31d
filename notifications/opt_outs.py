"""Members' opt-outs (member_notification_opt_outs), read on central for the events of every
partition.

The opt-outs are kept by the back office on central and are not replicated. The sender reads
them there, once per batch, for the batch's members only (on the table's primary key): an
opt-out counts from its commit for every partition's next event, with no replication lag, no
publication to change and no subscription to refresh. The price: while central cannot be
read, no partition's events are sent (none is sent that its member may have opted out of);
they wait in their outbox and go once central answers."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec

from notifications.events import Pending
from notifications.outbox import STATEMENT_TIMEOUT_S

_OPTED_OUT_SQL = """
SELECT member_id, kind FROM member_notification_opt_outs WHERE member_id = ANY($1::bigint[])
"""


async def with_opt_outs(central: asyncpg.Connection,
                        batch: Sequence[Pending]) -> list[Pending]:
    """The batch, each event marked opted out when its member opted out of its kind."""
    members = sorted({p.event.member_id for p in batch if p.event.member_id is not None})
    if not members:
        return list(batch)
    opted_out = {(row["member_id"], row["kind"])
                 for row in await central.fetch(
                     _OPTED_OUT_SQL, members, timeout=STATEMENT_TIMEOUT_S)}
    return [msgspec.structs.replace(p, opted_out=(p.event.member_id, p.event.kind) in opted_out)
            for p in batch]
