"""Subcommands of `jifen`. Each module has `register(subparsers)` and sets `handler`."""

from jifen.commands import db

COMMAND_MODULES = [db]
