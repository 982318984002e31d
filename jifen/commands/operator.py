"""`jifen operator create|list|disable|enable|passwd`: the back office's operators.

Managed by an HQ admin (`jifen --operator ADMIN operator ...`) or by the installer (no
operator: the back office's service role). A new password comes from --password-file (0600),
the variable named by --password-env, or a prompt (twice); never from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable

import asyncpg

from back_office.operators import (
    Operator,
    OperatorRole,
    check_password,
    check_password_change,
    create_operator,
    current_operator,
    list_operators,
    operator_name,
    read_password_file,
    set_operator_active,
    set_operator_password,
)
from database.roles import Role
from jifen.commands.acting import acting_operator
from jifen.commands.runner import add_json_option, print_json, print_table, run_command
from jifen.errors import CliError

_COLUMNS = ("name", "role", "merchant_code", "active", "created_at", "created_by")


def new_password(args: argparse.Namespace, name: str) -> str:
    """The operator's new password (see the module's docstring)."""
    if args.password_file is not None:
        return read_password_file(args.password_file, name)
    if args.password_env is not None:
        value = os.environ.get(args.password_env)
        if not value:
            raise CliError(f"${args.password_env} is not set")
        return check_password(value)
    if not sys.stdin.isatty():
        raise CliError("the new password: --password-file FILE (mode 0600), --password-env "
                       "VARIABLE, or a terminal to type it in")
    first = check_password(getpass.getpass(f"new password of operator {name}: "))
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ; nothing was changed")
    return first


def _show(operator: Operator, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(operator)
        return
    merchant = f" of merchant {operator.merchant_code}" if operator.merchant_code else ""
    state = "active" if operator.active else "disabled"
    print(f"{verb} operator {operator.name} ({operator.role.spoken}{merchant}): {state}")


def _create(args: argparse.Namespace) -> int:
    name = operator_name(args.name)
    role = OperatorRole(args.role)
    # The new password is asked for once the acting operator may create operators.
    operator = run_command(args, Role.BACK_OFFICE, lambda conn: create_operator(
        conn, name, role, args.merchant, new_password(args, name)))
    _show(operator, "created", args.json)
    return 0


def _list(args: argparse.Namespace) -> int:
    operators = run_command(args, Role.BACK_OFFICE, list_operators)
    if args.json:
        print_json(operators)
    else:
        print_table(operators, _COLUMNS)
    return 0


def _set_active(active: bool) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        operator = run_command(args, Role.BACK_OFFICE, lambda conn: set_operator_active(
            conn, args.name, active))
        _show(operator, "enabled" if active else "disabled", args.json)
        return 0

    return handler


def _passwd(args: argparse.Namespace) -> int:
    acting = acting_operator(args)
    name = args.name or acting
    if name is None:
        raise CliError("whose password? --name NAME (or act as the operator: --operator)")

    async def change(conn: asyncpg.Connection) -> None:
        if acting is not None:
            me = await current_operator(conn)
            check_password_change(me.name, me.role, name)
        await set_operator_password(conn, name, new_password(args, name))

    run_command(args, Role.BACK_OFFICE, change)
    if args.json:
        print_json({"operator": name, "password": "changed"})
    else:
        print(f"operator {name}: password changed")
    return 0


def _password_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--password-file", metavar="FILE",
                        help="read the new password from FILE (one line, mode 0600)")
    source.add_argument("--password-env", metavar="VARIABLE",
                        help="read the new password from this environment variable")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "operator", help="the back office's operators: create, list, disable, enable, passwd")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create an operator: a database login of one operator role",
        description="Roles: " + ", ".join(f"{role.value} ({role.spoken})"
                                           for role in OperatorRole))
    create.add_argument("--name", required=True, help="3-40 of a-z, 0-9, '_'")
    create.add_argument("--role", required=True, choices=[role.value for role in OperatorRole])
    create.add_argument("--merchant", help="a merchant admin's merchant code")
    _password_options(create)
    create.set_defaults(handler=_create)
    add_json_option(create)
    listing = actions.add_parser("list", help="list operators (others: only themselves)")
    listing.set_defaults(handler=_list)
    add_json_option(listing)
    for name, active in (("enable", True), ("disable", False)):
        toggle = actions.add_parser(
            name, help=f"{name} an operator: its login is "
                       f"{'allowed again' if active else 'refused from now on'}")
        toggle.add_argument("--name", required=True)
        toggle.set_defaults(handler=_set_active(active))
        add_json_option(toggle)
    passwd = actions.add_parser(
        "passwd", help="set an operator's password (your own, or anyone's as an HQ admin)")
    passwd.add_argument("--name", help="the operator (default: the acting operator)")
    _password_options(passwd)
    passwd.set_defaults(handler=_passwd)
    add_json_option(passwd)
