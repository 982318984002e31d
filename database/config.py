"""The `[database]` section of the configuration file."""

from __future__ import annotations

from typing import Annotated

import msgspec


class DatabaseConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # A URL as asyncpg takes it; $JIFEN_DATABASE_URL overrides it.
    url: Annotated[str, msgspec.Meta(pattern=r"^postgres(ql)?://")] | None = None
    # The embedded server's data directory, relative to the working directory.
    data_dir: Annotated[str, msgspec.Meta(min_length=1)] = "var/pg"
    # Connections per process pool; the host uses one for its writer. PostgreSQL's
    # max_connections (100 by default) bounds the sum over processes; 1,000 is far past it.
    pool_size_max: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 4
    # A server restarting after a crash replays its WAL first; past five minutes it is down.
    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
