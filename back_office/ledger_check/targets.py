"""What `jifen audit` reads: central's database and every partition's, as jifen_audit.

The partitions are central's `partitions` table; each is reached through its
`[partitions.<name>]` section (database/partitions.py, which refuses one in the table but not
configured: an audit that left it out would say clean without having looked). Central's URL
is the caller's (an operator's, or jifen_audit's); a partition's is jifen_audit's, since
operators log in on central only.
"""

from __future__ import annotations

from collections.abc import Mapping

from anyio import to_thread

from back_office.ledger_check.partitioned import CENTRAL_NUMBER, AuditTarget
from database.config import DatabaseConfig
from database.connect import resolve_database_url
from database.partitions import partition_databases, read_partitions
from database.roles import Role


async def audit_targets(
    central_url: str, central: DatabaseConfig, configured: Mapping[str, DatabaseConfig],
) -> list[AuditTarget]:
    """Every partition by number, central's first; [] on a database without the table."""
    partitions = await read_partitions(central_url, central.connect_timeout_s)
    databases = partition_databases(partitions, central, configured)
    targets = []
    for partition in partitions:
        url = (central_url if partition.number == CENTRAL_NUMBER else
               await to_thread.run_sync(resolve_database_url, databases[partition.name],
                                        Role.AUDIT))
        targets.append(AuditTarget(partition.name, partition.number, url))
    return targets
