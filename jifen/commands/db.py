"""`jifen db`: the embedded server (start, stop, status), the schema (migrate), access
(url, psql), and the embedded server's backups (backup, restore)."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import anyio
import msgspec

from back_office.data_migrations import data_steps, publish_front_key
from database import (
    APPLICATION_DATABASE,
    EmbeddedPostgres,
    embedded_server,
    migrate,
    resolve_database_url,
)
from database.backup import list_backups, restore, take_backup
from database.connect import connect, redact_url
from database.partitions import partition_urls
from database.replication import refresh_subscriptions
from database.tools import tool_path
from jifen.errors import CliError
from proto.keys import load_kek
from runtime.config import Config, load_config

BACKUP_DOCS = "docs/reliability.md, \"Backup and restore\""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db", help="database: embedded server, migrations, psql",
        description="Manage the database: the embedded server, the schema, a psql session.",
    )
    commands = parser.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)
    start = commands.add_parser("start", help="start the embedded server; print its DSN")
    start.set_defaults(handler=start_server)
    stop = commands.add_parser("stop", help="stop the embedded server")
    stop.set_defaults(handler=stop_server)
    status = commands.add_parser(
        "status", help="state of the embedded server (exit status 1 when not running)"
    )
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    status.set_defaults(handler=show_status)
    for server_command in (start, stop, status):
        server_command.add_argument(
            "--partition", metavar="NAME",
            help="the embedded server of [partitions.NAME] instead of [database]'s")
    migrate_parser = commands.add_parser(
        "migrate", help="apply pending schema migrations: every partition's database, then"
                        " central's")
    migrate_parser.set_defaults(handler=migrate_database)
    url = commands.add_parser("url", help="print the database URL in use (password hidden)")
    url.add_argument("--show-password", action="store_true",
                     help="print the administrator's password too (it ends up in your shell's"
                          " history and screen)")
    url.set_defaults(handler=print_url)
    psql = commands.add_parser("psql", help="open the bundled psql on the database in use")
    psql.add_argument(
        "psql_args", nargs=argparse.REMAINDER,
        help="passed on to psql; put them after --, as in: jifen db psql -- -c 'select 1'",
    )
    psql.set_defaults(handler=run_psql)
    backup = commands.add_parser(
        "backup", help="a verified base backup of the embedded server into [database] backup_dir"
    )
    backup.add_argument("--list", action="store_true",
                        help="list the backups kept, do not take one")
    backup.set_defaults(handler=backup_database)
    restore_parser = commands.add_parser(
        "restore", help="restore the embedded server from a base backup and the WAL archive",
        description="Stop the embedded server, move its data directory aside (never deleted),"
                    " copy a base backup in its place, replay the archived WAL up to TIME (or"
                    " its end: latest), promote and start.",
    )
    restore_parser.add_argument(
        "--to", required=True, metavar="TIME|latest",
        help="latest, or an ISO 8601 time (with a zone offset, else UTC): the last"
             " transactions committed at or before it are kept",
    )
    restore_parser.add_argument("--backup", metavar="NAME",
                                help="the base backup (default: the newest before TIME)")
    restore_parser.set_defaults(handler=restore_database)


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _server(config: Config, partition: str | None = None) -> EmbeddedPostgres:
    if partition is None:
        return embedded_server(config.database)
    if partition not in config.partitions:
        raise CliError(f"no [partitions.{partition}] in the configuration")
    return embedded_server(config.partitions[partition])


def start_server(args: argparse.Namespace) -> int:
    config = _config(args)
    database = config.database if args.partition is None else config.partitions.get(
        args.partition)
    if database is not None and database.url:
        print("jifen: note: a database URL is configured; it, not this server, is used",
              file=sys.stderr)
    print(_server(config, args.partition).ensure_database(APPLICATION_DATABASE))
    return 0


def stop_server(args: argparse.Namespace) -> int:
    server = _server(_config(args), args.partition)
    print("stopped" if server.stop() else f"not running on {server.data_dir}")
    return 0


def show_status(args: argparse.Namespace) -> int:
    status = _server(_config(args), args.partition).status()
    if args.json:
        print(msgspec.json.encode(status).decode())
    else:
        print(f"data directory: {status.data_dir}"
              f"{'' if status.initialised else ' (not initialised)'}")
        print(f"state:          {status.state}")
        if status.pid is not None:
            print(f"pid:            {status.pid}")
            print(f"port:           {status.port}")
        if status.dsn is not None:
            print(f"dsn:            {status.dsn}")
    return 0 if status.running else 1


def migrate_database(args: argparse.Namespace) -> int:
    """Every partition's database, then central's: a subscriber must have a column before its
    publisher sends it (docs/plans/partitions.md §1, "Migrations")."""
    config = _config(args)
    url = resolve_database_url(config.database)
    # The data steps convert rows with the keys (migration 008: card numbers, SAF rows).
    kek = load_kek(config.front.kek_file, config.front.kek_env)
    partitions = anyio.run(partition_urls, config.database, config.partitions, None,
                           backend="asyncio")
    any_applied = False
    for name, partition_url in partitions.items():
        if partition_url == url:
            continue   # central: last
        apply = functools.partial(
            migrate, partition_url, connect_timeout_s=config.database.connect_timeout_s,
            data_steps=data_steps(kek),
        )
        applied = anyio.run(apply, backend="asyncio")
        any_applied = any_applied or bool(applied)
        for version in applied:
            print(f"{name}: applied {version}")
        if not applied:
            print(f"{name}: up to date")
    apply = functools.partial(
        migrate, url, connect_timeout_s=config.database.connect_timeout_s,
        data_steps=data_steps(kek),
    )
    applied = anyio.run(apply, backend="asyncio")
    # Also on a database migrated earlier without the KEK: the back office seals TMKs to it.
    anyio.run(publish_front_key, url, kek, config.database.connect_timeout_s,
              backend="asyncio")
    for version in applied:
        print(f"applied {version}")
    if not applied:
        print("up to date")
    if (any_applied or applied) and len(partitions) > 1:
        # A migration may have added a table to a publication: every subscription takes it.
        for database_url in partitions.values():
            for name in anyio.run(_refresh, database_url, config.database.connect_timeout_s,
                                  backend="asyncio"):
                print(f"subscription {name} refreshed")
    return 0


async def _refresh(url: str, connect_timeout_s: float) -> list[str]:
    connection = await connect(url, connect_timeout_s)
    try:
        return await refresh_subscriptions(connection)
    finally:
        await connection.close()


def print_url(args: argparse.Namespace) -> int:
    url = resolve_database_url(_config(args).database)
    print(url if args.show_password else redact_url(url))
    return 0


def run_psql(args: argparse.Namespace) -> int:
    url = resolve_database_url(_config(args).database)
    extra = args.psql_args[1:] if args.psql_args[:1] == ["--"] else args.psql_args
    psql = str(tool_path("psql"))
    # The password goes in psql's environment: its command line is readable by every user.
    parts = urlsplit(url)
    environment = dict(os.environ)
    if parts.password is not None:
        environment["PGPASSWORD"] = unquote(parts.password)
        user = parts.netloc.rpartition("@")[0].partition(":")[0]
        url = urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))
    sys.stdout.flush()
    os.execve(psql, [psql, url, *extra], environment)
    return 0  # not reached: execv replaces this process


def _embedded_only(config: Config, command: str) -> None:
    if config.database.url:
        raise CliError(
            f"`jifen db {command}` backs up the embedded server only; a database URL is"
            " configured (database.url or $JIFEN_DATABASE_URL): that server's backups are the"
            f" deployment's own, with its own tools (see {BACKUP_DOCS})"
        )


def backup_database(args: argparse.Namespace) -> int:
    config = _config(args)
    _embedded_only(config, "backup")
    backup_dir = Path(config.database.backup_dir)
    if args.list:
        for kept in list_backups(backup_dir):
            print(f"{kept.name}  ended {kept.ended_at.isoformat(timespec='seconds')}"
                  f"  {kept.size_bytes / 1e6:.1f} MB  {kept.path}")
        return 0
    result = take_backup(_server(config), backup_dir, config.database.backups_kept)
    written = result.backup
    print(f"base backup {written.name}: {written.path} ({written.size_bytes / 1e6:.1f} MB,"
          f" verified), restorable from {written.ended_at.isoformat(timespec='seconds')}")
    for name in result.removed:
        print(f"removed backup {name} (backups_kept = {config.database.backups_kept})")
    if result.wal_files_removed:
        print(f"removed {result.wal_files_removed} archived WAL files older than the oldest"
              " backup kept")
    if not result.archiving:
        print("jifen: warning: the server does not archive its WAL yet (archive_mode is read"
              " at start): restart it (`jifen db stop`, then start) so that a restore can"
              " reach past this backup; until then it restores to the backup's end",
              file=sys.stderr)
    return 0


def restore_database(args: argparse.Namespace) -> int:
    config = _config(args)
    _embedded_only(config, "restore")
    target = _restore_target(args.to)
    result = restore(_server(config), Path(config.database.backup_dir), target, args.backup)
    print(f"restored {config.database.data_dir} from base backup {result.backup.name}"
          f" and the WAL archive, to {'the end of the archive' if target is None else target}")
    if result.set_aside:
        print(f"the previous data directory is kept at {result.set_aside}")
    if result.wal_files_copied:
        print(f"replayed {result.wal_files_copied} WAL files not yet archived, from it")
    if result.recovered_to is not None:
        print(f"last transaction replayed: {result.recovered_to.isoformat()}")
    print(f"promoted and running, in {result.duration_s:.1f} s")
    return 0


def _restore_target(text: str) -> dt.datetime | None:
    if text == "latest":
        return None
    try:
        target = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"--to {text!r}: not `latest` nor an ISO 8601 time") from exc
    if target.tzinfo is None:
        target = target.replace(tzinfo=dt.UTC)
    if target > dt.datetime.now(dt.UTC):
        raise CliError(f"--to {text}: in the future; use `latest` for the end of the archive")
    return target
