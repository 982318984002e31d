"""Configuration: one TOML file for every process, with built-in defaults for every field.

The file is named by `--config` or $JIFEN_CONFIG. $JIFEN_DATABASE_URL, when set, overrides
`database.url`; with no URL at all, Jifen runs its own embedded PostgreSQL under
`database.data_dir`.

The file is checked whole when it is loaded, before any process starts: every field's bounds
(`msgspec.Meta` in its section's Struct) and the relations between fields (each Struct's
`__post_init__`); the error names the field by its path (`$.host.batch_size_max`). A setting
renamed since an earlier release (a Struct's `renamed_fields`) is refused with its new name.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Annotated

import msgspec

from account_host.config import HostConfig
from acquirer_front.config import FrontConfig
from back_office.config import BackOfficeConfig
from back_office.transit.config import TransitConfig
from database.config import DatabaseConfig, check_multi_host
from dialup.config import DialupConfig
from notifications.config import NotifyConfig
from proto.settings import HostName, PeerName, Port
from runtime.errors import ConfigError
from switch.config import SwitchConfig

# The level names Python's logging knows, in either case.
LogLevel = Annotated[str, msgspec.Meta(pattern=r"(?i)^(debug|info|warning|warn|error|critical)$")]
LogFormat = typing.Literal["auto", "json", "console"]


class LogConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    level: LogLevel = "info"
    # "json" for machines (systemd's journal, a log shipper), "console" for people reading a
    # terminal; "auto" picks console when stderr is a terminal (`jifen up` in a shell and the
    # services it starts), else JSON (under systemd stderr is the journal).
    format: LogFormat = "auto"


class PkiConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where `jifen pki init` (and `jifen up` on a first start) writes the links' CA and
    certificates. The services read the files their own sections name (`tls_cert_file`, ...),
    whose defaults are under var/pki: moving `dir` means moving those too."""

    dir: Annotated[str, msgspec.Meta(min_length=1)] = "var/pki"
    # The name in the host's certificate, which the switch expects (`switch.host_tls_name`).
    host_name: PeerName = "host"


class StatusConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What `jifen status` asks beside the processes of this file's sections."""

    # The metrics ports of other account hosts on this machine (a partition's host, which
    # runs with a file of its own: `jifen up --partitions 2` writes both); metrics listen on
    # 127.0.0.1 only, so only a host on this machine can be asked.
    hosts: dict[HostName, Port] = {}


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    database: DatabaseConfig = DatabaseConfig()
    front: FrontConfig = FrontConfig()
    switch: SwitchConfig = SwitchConfig()
    host: HostConfig = HostConfig()
    dialup: DialupConfig = DialupConfig()
    log: LogConfig = LogConfig()
    pki: PkiConfig = PkiConfig()
    back_office: BackOfficeConfig = BackOfficeConfig()
    notify: NotifyConfig = NotifyConfig()
    # The driver of transfers between partitions (`jifen transit drive`).
    transit: TransitConfig = TransitConfig()
    # Each partition's database but central's (database/partitions.py, docs/operations.md
    # "Partitions"): `[partitions.<name>]`, a `[database]` section of its own, named as the
    # partition's host (`[host] name`, `switch.hosts`).
    partitions: dict[HostName, DatabaseConfig] = {}
    status: StatusConfig = StatusConfig()

    def __post_init__(self) -> None:
        # A client probes a quiet link every echo interval and waits the echo timeout for the
        # answer: its server must not close the link as idle in between.
        for client, interval, timeout, server, idle in (
            ("front", self.front.link_echo_interval_s, self.front.link_echo_timeout_s,
             "switch", self.switch.link_idle_timeout_s),
            ("switch", self.switch.echo_interval_s, self.switch.echo_timeout_s,
             "host", self.host.link_idle_timeout_s),
        ):
            if idle <= interval + timeout:
                raise ValueError(
                    f"{server}.link_idle_timeout_s ({idle}) must be above the {client}'s echo "
                    f"interval plus its echo timeout ({interval} + {timeout})")


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
        renamed = _renamed_settings(raw, Config)
        if renamed:
            raise ConfigError(f"configuration file {path}: {'; '.join(renamed)}")
        try:
            config = msgspec.convert(raw, Config)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"configuration file {path}: {exc}") from exc
    url = os.environ.get("JIFEN_DATABASE_URL")
    if url:
        try:   # replace() runs no __post_init__: the file's checks of a URL, made here
            check_multi_host("$JIFEN_DATABASE_URL", url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        config = msgspec.structs.replace(
            config, database=msgspec.structs.replace(config.database, url=url)
        )
    return config


def check_config(config: Config) -> Config:
    """The checks of a file (bounds and relations) on a Config built or changed in code, as
    `jifen dialup --port` does; a ValidationError names the field by its path."""
    return msgspec.convert(msgspec.to_builtins(config), Config)


def _renamed_settings(
    raw: object, struct_type: type[msgspec.Struct], section: str = ""
) -> list[str]:
    """'[section] old is now new' for every renamed setting the raw TOML table still uses,
    in its sections, nested sections and arrays of tables (each Struct's `renamed_fields`)."""
    if not isinstance(raw, dict):
        return []   # the typed decode says what is wrong with it
    found = [f"[{section}] {old} is now {new}"
             for old, new in getattr(struct_type, "renamed_fields", {}).items() if old in raw]
    for field in msgspec.structs.fields(struct_type):
        value = raw.get(field.encode_name)
        name = f"{section}.{field.encode_name}" if section else field.encode_name
        field_type = typing.get_origin(field.type) or field.type
        if isinstance(field_type, type) and issubclass(field_type, msgspec.Struct):
            found += _renamed_settings(value, field_type, name)
        elif field_type is tuple and isinstance(value, list):
            item_type = typing.get_args(field.type)[0]
            if isinstance(item_type, type) and issubclass(item_type, msgspec.Struct):
                for item in value:
                    found += _renamed_settings(item, item_type, f"[{name}]")
    return found
