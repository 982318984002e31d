"""The `jifen` command: one subcommand module per concern under `jifen.commands`."""

from __future__ import annotations

import argparse
import sys

from jifen.commands import COMMAND_MODULES
from jifen.commands.acting import add_operator_options, refuse_installer_command
from jifen.errors import OPERATOR_ERRORS, exit_code_of


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jifen",
        description="Jifen: transaction switch and points host for coalition loyalty programmes.",
    )
    parser.add_argument(
        "--config", metavar="FILE", default=None,
        help="TOML configuration file (default: $JIFEN_CONFIG, else built-in defaults)",
    )
    add_operator_options(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        refuse_installer_command(args)
        return int(args.handler(args) or 0)
    except OPERATOR_ERRORS as exc:
        print(f"jifen: error: {exc}", file=sys.stderr)
        return exit_code_of(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
