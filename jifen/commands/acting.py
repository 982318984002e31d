"""Acting as an operator: who (`--operator NAME` / $JIFEN_OPERATOR), with which password, on
which URL, and the CLI's check of the command against the operator's role.

Without an operator the CLI keeps the installer's mode: each command runs as its service
role (`database.connect.resolve_database_url`), as `jifen up`, the demo and the tests do.

The password never comes from argv (a command line is visible to every user of the machine):
$JIFEN_OPERATOR_PASSWORD, else the private file of `--operator-password-file` /
$JIFEN_OPERATOR_PASSWORD_FILE, else a prompt when standard input is a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from back_office.operators import (
    Operator,
    OperatorLoginError,
    check_right,
    current_operator,
    is_operator_command,
    read_password_file,
)
from back_office.operators.errors import RightRefusedError
from database.config import DatabaseConfig
from database.connect import APPLICATION_DATABASE
from database.embedded import EmbeddedPostgres
from database.errors import DatabaseUnavailableError
from jifen.errors import CliError

OPERATOR_ENV = "JIFEN_OPERATOR"
OPERATOR_PASSWORD_ENV = "JIFEN_OPERATOR_PASSWORD"
OPERATOR_PASSWORD_FILE_ENV = "JIFEN_OPERATOR_PASSWORD_FILE"
EMBEDDED_HOST = "127.0.0.1"


def add_operator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--operator", metavar="NAME", default=None,
        help=f"act as this operator (default: ${OPERATOR_ENV}); its password from "
             f"${OPERATOR_PASSWORD_ENV}, --operator-password-file, or a prompt. Without one: "
             f"the installer's mode (the services' roles)")
    parser.add_argument(
        "--operator-password-file", metavar="FILE", default=None,
        help=f"a 0600 file with the operator's password, or a CSV with columns operator and "
             f"password such as var/demo-operators.csv (default: ${OPERATOR_PASSWORD_FILE_ENV})")


def acting_operator(args: argparse.Namespace) -> str | None:
    name = getattr(args, "operator", None) or os.environ.get(OPERATOR_ENV)
    return name or None


def command_of(args: argparse.Namespace) -> tuple[str, str | None]:
    return args.command, getattr(args, "action", None)


def refuse_installer_command(args: argparse.Namespace) -> None:
    """Before any handler runs: an operator may run only the commands of the rights table
    (the others are the installer's, and would run as a service role)."""
    operator = acting_operator(args)
    command, action = command_of(args)
    if operator is not None and not is_operator_command(command, action):
        shown = command if action is None else f"{command} {action}"
        raise RightRefusedError(
            f"operator {operator} may not run `jifen {shown}`: it is the installer's (run it "
            f"without --operator, as the account that installed Jifen)")


def operator_password(args: argparse.Namespace, operator: str) -> str:
    from_env = os.environ.get(OPERATOR_PASSWORD_ENV)
    if from_env:
        return from_env
    path = getattr(args, "operator_password_file", None) or os.environ.get(
        OPERATOR_PASSWORD_FILE_ENV)
    if path:
        return read_password_file(path, operator)
    if sys.stdin.isatty():
        return getpass.getpass(f"password of operator {operator}: ")
    raise CliError(f"operator {operator} needs its password: ${OPERATOR_PASSWORD_ENV}, "
                   f"--operator-password-file FILE or a terminal to type it in")


def operator_base_url(config: DatabaseConfig) -> str:
    """The server and database, without credentials: the configured URL's, else the embedded
    server's (which must be running: an operator cannot start it)."""
    if config.url:
        parts = urlsplit(config.url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=host))
    status = EmbeddedPostgres(config.data_dir).status()
    if not status.running or status.port is None:
        raise CliError(f"the embedded database under {config.data_dir} is not running: start "
                       f"it with `jifen up` or `jifen db start`")
    return f"postgresql://{EMBEDDED_HOST}:{status.port}/{APPLICATION_DATABASE}"


def operator_url(config: DatabaseConfig, operator: str, password: str) -> str:
    """The operator's URL, password included: for a command that opens its own connections.
    Never printed (`database.connect.redact_url` hides the password in messages)."""
    parts = urlsplit(operator_base_url(config))
    return urlunsplit(parts._replace(
        netloc=f"{quote(operator, safe='')}:{quote(password, safe='')}@{parts.netloc}"))


async def connect_operator(
    config: DatabaseConfig, operator: str, password: str,
) -> asyncpg.Connection:
    """A connection logged in as the operator; a refused login is an OperatorLoginError."""
    base = operator_base_url(config)
    try:
        return await asyncpg.connect(base, user=operator, password=password,
                                     timeout=config.connect_timeout_s)
    except (asyncpg.InvalidPasswordError,
            asyncpg.InvalidAuthorizationSpecificationError) as exc:
        raise OperatorLoginError(
            f"operator {operator} could not log in ({exc}): a wrong password, or the operator "
            f"is disabled or unknown") from exc
    except (TimeoutError, OSError, ValueError, asyncpg.PostgresError,
            asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to {base} as operator {operator}: {exc}") from exc


async def checked_operator(
    conn: asyncpg.Connection, args: argparse.Namespace,
) -> Operator:
    """The connection's operator, if its role may run this command (else RightRefusedError)."""
    operator = await current_operator(conn)
    command, action = command_of(args)
    check_right(operator.name, operator.role, command, action)
    return operator
