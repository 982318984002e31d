"""`jifen db`: the embedded server (start, stop, status), the schema (migrate), and access
(url, psql)."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from urllib.parse import unquote, urlsplit, urlunsplit

import anyio
import msgspec

from back_office.data_migrations import data_steps, publish_front_key
from database import APPLICATION_DATABASE, EmbeddedPostgres, migrate, resolve_database_url
from database.connect import redact_url
from database.tools import tool_path
from proto.keys import load_kek
from runtime.config import Config, load_config


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
    migrate_parser = commands.add_parser("migrate", help="apply pending schema migrations")
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


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _server(config: Config) -> EmbeddedPostgres:
    return EmbeddedPostgres(config.database.data_dir)


def start_server(args: argparse.Namespace) -> int:
    config = _config(args)
    if config.database.url:
        print("jifen: note: a database URL is configured; it, not this server, is used",
              file=sys.stderr)
    print(_server(config).ensure_database(APPLICATION_DATABASE))
    return 0


def stop_server(args: argparse.Namespace) -> int:
    server = _server(_config(args))
    print("stopped" if server.stop() else f"not running on {server.data_dir}")
    return 0


def show_status(args: argparse.Namespace) -> int:
    status = _server(_config(args)).status()
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
    config = _config(args)
    url = resolve_database_url(config.database)
    # The data steps convert rows with the keys (migration 008: card numbers, SAF rows).
    kek = load_kek(config.front.kek_file, config.front.kek_env)
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
    return 0


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
