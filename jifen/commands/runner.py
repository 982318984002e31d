"""Running a provisioning function from the command line: config, connection, error mapping."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import asyncpg
import msgspec

from acquirer_front.keystore import KeyStoreError
from back_office.partition_writes import PartitionWriteUrls
from back_office.queries.partitions import OtherPartitions
from clearing.partitions import PartitionSetup
from database.connect import connect, resolve_database_url
from database.partitions import other_partition_urls
from database.roles import Role
from jifen.commands.acting import (
    acting_operator,
    checked_operator,
    connect_operator,
    operator_password,
    operator_url,
)
from jifen.errors import CliError
from runtime.config import Config, load_config

T = TypeVar("T")


def run_with_database(
    config_path: str | None, role: Role,
    function: Callable[[asyncpg.Connection], Awaitable[T]],
) -> T:
    """`function(conn)` on a connection to the configured database as `role`; failures as
    CliError."""
    config = load_config(config_path)
    url = resolve_database_url(config.database, role)
    timeout_s = config.database.connect_timeout_s

    async def with_connection() -> T:
        conn = await connect(url, timeout_s)
        try:
            return await function(conn)
        finally:
            await conn.close()

    return _run_mapped(with_connection, None)


def run_command(
    args: argparse.Namespace, role: Role,
    function: Callable[[asyncpg.Connection], Awaitable[T]],
) -> T:
    """`function(conn)` as the acting operator (`--operator`, $JIFEN_OPERATOR) once the CLI
    has checked the command against its role; without one, as `role` (the installer's mode).
    """
    operator = acting_operator(args)
    if operator is None:
        return run_with_database(args.config, role, function)
    config = load_config(args.config)
    password = operator_password(args, operator)

    async def with_connection() -> T:
        conn = await connect_operator(config.database, operator, password)
        try:
            await checked_operator(conn, args)
            return await function(conn)
        finally:
            await conn.close()

    return _run_mapped(with_connection, operator)


def partition_setup(config: Config) -> PartitionSetup:
    """What clearing needs of the configuration to reach every partition's database."""
    return PartitionSetup(config.database, dict(config.partitions))


async def other_partitions(conn: asyncpg.Connection, config: Config) -> OtherPartitions:
    """Every partition but central's, for the back office's reads: found in central's table on
    `conn`, each reached as jifen_audit (operators log in on central only)."""
    urls = await other_partition_urls(conn, config.database, config.partitions, Role.AUDIT)
    return OtherPartitions(urls, config.database.connect_timeout_s)


async def partition_writers(conn: asyncpg.Connection, config: Config) -> PartitionWriteUrls:
    """Every partition but central's, for the back office's writes there (a risk review's
    decision): each reached as jifen_back_office (operators log in on central only)."""
    urls = await other_partition_urls(conn, config.database, config.partitions,
                                      Role.BACK_OFFICE)
    return PartitionWriteUrls(urls, config.database.connect_timeout_s)


def command_url(args: argparse.Namespace, role: Role) -> str:
    """The URL a command that opens its own connections runs with: the acting operator's,
    once its role may run the command, else `role`'s (the installer's mode)."""
    config = load_config(args.config)
    operator = acting_operator(args)
    if operator is None:
        return resolve_database_url(config.database, role)
    password = operator_password(args, operator)

    async def check() -> None:
        conn = await connect_operator(config.database, operator, password)
        try:
            await checked_operator(conn, args)
        finally:
            await conn.close()

    _run_mapped(check, operator)
    return operator_url(config.database, operator, password)


def _run_mapped(run: Callable[[], Awaitable[T]], operator: str | None) -> T:
    try:
        return anyio.run(run, backend="asyncio")
    except KeyStoreError as exc:
        raise CliError(f"key store: {exc}") from exc
    except asyncpg.UndefinedTableError as exc:
        raise CliError(f"the database has no Jifen schema ({exc}): run `jifen db migrate`") \
            from exc
    except asyncpg.InsufficientPrivilegeError as exc:
        who = f"operator {operator}" if operator else "this role"
        raise CliError(f"the database refused {who}: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise CliError(f"the database refused the change: {exc}") from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise CliError(f"lost the database connection: {exc}") from exc


def print_json(value: Any) -> None:
    print(json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False))


def print_table(rows: Sequence[msgspec.Struct], columns: Sequence[str]) -> None:
    """Aligned columns for a person; an empty list says so instead of printing a bare header."""
    if not rows:
        print("(none)")
        return
    cells = [[_cell(getattr(row, column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[index]) for line in cells))
              for index, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)))
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def add_json_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser
