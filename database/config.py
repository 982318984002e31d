"""The `[database]` section of the configuration file."""

from __future__ import annotations

import msgspec


class DatabaseConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str | None = None
    # The embedded server's data directory, relative to the working directory.
    data_dir: str = "var/pg"
    # Connections per process pool; the host uses one for its writer.
    pool_size_max: int = 4
    connect_timeout_s: float = 10.0
