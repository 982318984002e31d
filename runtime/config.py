"""Configuration: one TOML file for every process, with built-in defaults for every field.

The file is named by `--config` or $JIFEN_CONFIG. $JIFEN_DATABASE_URL, when set, overrides
`database.url`; with no URL at all, Jifen runs its own embedded PostgreSQL under
`database.data_dir`.

The file is checked whole when it is loaded, before any process starts: every field's bounds
(`msgspec.Meta` in its section's Struct) and the relations between fields (each Struct's
`__post_init__`); the error names the field by its path (`$.host.batch_size_max`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import msgspec

from account_host.config import HostConfig
from acquirer_front.config import FrontConfig
from database.config import DatabaseConfig
from dialup.config import DialupConfig
from runtime.errors import ConfigError
from switch.config import SwitchConfig

# The level names Python's logging knows, in either case.
LogLevel = Annotated[str, msgspec.Meta(pattern=r"(?i)^(debug|info|warning|warn|error|critical)$")]


class LogConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    level: LogLevel = "info"


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    database: DatabaseConfig = DatabaseConfig()
    front: FrontConfig = FrontConfig()
    switch: SwitchConfig = SwitchConfig()
    host: HostConfig = HostConfig()
    dialup: DialupConfig = DialupConfig()
    log: LogConfig = LogConfig()


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the file (if any), check it, and apply the environment; a bad file is a
    ConfigError whose message names the file and the field."""
    path = path or os.environ.get("JIFEN_CONFIG")
    config = Config()
    if path:
        try:
            raw = msgspec.toml.decode(Path(path).read_bytes())
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file {path} not found") from exc
        except msgspec.DecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
        try:
            config = msgspec.convert(raw, Config)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"configuration file {path}: {exc}") from exc
    url = os.environ.get("JIFEN_DATABASE_URL")
    if url:
        config = msgspec.structs.replace(
            config, database=msgspec.structs.replace(config.database, url=url)
        )
    return config


def check_config(config: Config) -> Config:
    """The checks of a file (bounds and relations) on a Config built or changed in code, as
    `jifen dialup --port` does; a ValidationError names the field by its path."""
    return msgspec.convert(msgspec.to_builtins(config), Config)

