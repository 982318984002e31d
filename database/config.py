"""The `[database]` section of the configuration file."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import msgspec

from database.roles import Role
from proto.settings import FilePath

DatabaseUrl = Annotated[str, msgspec.Meta(pattern=r"^postgres(ql)?://")]


class DatabaseConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # A URL as asyncpg takes it; $JIFEN_DATABASE_URL overrides it. The administrator's:
    # migrations, `jifen db`, test equipment; and every service that has no URL of its own.
    url: DatabaseUrl | None = None
    # On a server of your own, each service's login role (migrations/006_roles.sql); a URL
    # without a password takes it from ~/.pgpass or $PGPASSFILE. On the embedded server leave
    # them out: each service logs in as its role with a generated password.
    host_url: DatabaseUrl | None = None
    front_url: DatabaseUrl | None = None
    switch_url: DatabaseUrl | None = None
    clearing_url: DatabaseUrl | None = None
    back_office_url: DatabaseUrl | None = None
    audit_url: DatabaseUrl | None = None
    notify_url: DatabaseUrl | None = None
    # The login (with the REPLICATION attribute) that another database's subscription uses to
    # read this one's publication (partitions: docs/operations.md, "Partitions").
    replication_url: DatabaseUrl | None = None
    # The password of a service's own URL (above), read from this file when the service starts:
    # under systemd `credential:db-password` (the unit's `LoadCredential=db-password:...`), so
    # the password is in neither this file, nor the environment, nor argv. Only with that URL,
    # and the URL then carries no password. One line; the file must not be open to others.
    host_password_file: FilePath | None = None
    front_password_file: FilePath | None = None
    switch_password_file: FilePath | None = None
    clearing_password_file: FilePath | None = None
    back_office_password_file: FilePath | None = None
    audit_password_file: FilePath | None = None
    notify_password_file: FilePath | None = None
    replication_password_file: FilePath | None = None
    # The embedded server's data directory, relative to the working directory.
    data_dir: Annotated[str, msgspec.Meta(min_length=1)] = "var/pg"
    # The embedded server's base backups (`jifen db backup`: <backup_dir>/base/) and WAL
    # archive (<backup_dir>/wal/), relative to the working directory. On another disk than
    # data_dir in production: one lost disk must not take the database and its backups.
    backup_dir: Annotated[str, msgspec.Meta(min_length=1)] = "var/backups"
    # Archive every WAL segment into backup_dir (point-in-time restore; archive_mode needs a
    # restart of a running server). Off: base backups only, each restored to its own end.
    archive_wal: bool = True
    # Base backups kept by `jifen db backup` (the oldest are removed, with the archived WAL
    # that only they needed): a week of nightly backups.
    backups_kept: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 7
    # Connections per process pool; the host uses one for its writer. PostgreSQL's
    # max_connections (100 by default) bounds the sum over processes; 1,000 is far past it.
    pool_size_max: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 4
    # A server restarting after a crash replays its WAL first; past five minutes it is down.
    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0

    def __post_init__(self) -> None:
        for name in ("url", *(role.value.removeprefix("jifen_") + "_url" for role in Role)):
            check_multi_host(name, getattr(self, name))
        for role in Role:
            password_file, url = self.password_file_of(role), self.url_of(role)
            if password_file is None:
                continue
            service = role.value.removeprefix("jifen_")
            if url is None:
                raise ValueError(f"{service}_password_file is the password of {service}_url, "
                                 f"which is not set")
            if urlsplit(url).password is not None:
                raise ValueError(f"{service}_url carries a password and {service}_password_file "
                                 f"gives one: keep only the file")

    def url_of(self, role: Role) -> str | None:
        """The role's own configured URL, if any."""
        url = getattr(self, role.value.removeprefix("jifen_") + "_url")
        assert url is None or isinstance(url, str)
        return url

    def password_file_of(self, role: Role) -> str | None:
        """The file that holds the password of the role's own URL, if any."""
        path = getattr(self, role.value.removeprefix("jifen_") + "_password_file")
        assert path is None or isinstance(path, str)
        return path


# What a URL naming several servers must ask for: the one that takes writes (asyncpg tries
# them in turn). Without it the first that answers is taken, a standby as well.
WRITABLE_SESSION_ATTRS = ("read-write", "primary")


def check_multi_host(name: str, url: str | None) -> None:
    """A URL naming a primary and its standbys (`postgresql://u@db1:5432,db2:5432/jifen`) must
    carry target_session_attrs=read-write: a service on a standby would fail its writes, and
    one that reads the ledger would read it late (docs/reliability.md, "Fail-over")."""
    if url is None:
        return
    parts = urlsplit(url)
    if "," not in parts.netloc.rpartition("@")[2]:
        return
    asked = parse_qs(parts.query).get("target_session_attrs", [])
    if not any(value in WRITABLE_SESSION_ATTRS for value in asked):
        raise ValueError(f"{name} names several servers: add ?target_session_attrs=read-write,"
                         " so that it reaches the primary only")
