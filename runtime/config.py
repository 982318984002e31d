"""Configuration: one TOML file for every process, with built-in defaults for every field.

The file is named by `--config` or $JIFEN_CONFIG. $JIFEN_DATABASE_URL, when set, overrides
`database.url`; with no URL at all, Jifen runs its own embedded PostgreSQL under
`database.data_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from account_host.config import HostConfig
from acquirer_front.config import FrontConfig
from database.config import DatabaseConfig
from dialup.config import DialupConfig
from runtime.errors import ConfigError
from switch.config import SwitchConfig


class LogConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    level: str = "info"


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    database: DatabaseConfig = DatabaseConfig()
    front: FrontConfig = FrontConfig()
    switch: SwitchConfig = SwitchConfig()
    host: HostConfig = HostConfig()
    dialup: DialupConfig = DialupConfig()
    log: LogConfig = LogConfig()


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the file (if any) and apply the environment; a bad file is a ConfigError."""
    path = path or os.environ.get("JIFEN_CONFIG")
    config = Config()
    if path:
        try:
            config = msgspec.toml.decode(Path(path).read_bytes(), type=Config)
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file {path} not found") from exc
        except msgspec.ValidationError as exc:
            raise ConfigError(f"configuration file {path}: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
    url = os.environ.get("JIFEN_DATABASE_URL")
    if url:
        config = msgspec.structs.replace(
            config, database=msgspec.structs.replace(config.database, url=url)
        )
    return config

