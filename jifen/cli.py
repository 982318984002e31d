"""The `jifen` command: one subcommand module per concern under `jifen.commands`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from database.embedded import started_by_this_process
from jifen.commands import COMMAND_MODULES
from jifen.commands.acting import add_operator_options, refuse_installer_command
from jifen.errors import OPERATOR_ERRORS, exit_code_of
from runtime.config import load_config
from runtime.errors import ConfigError


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
    # Servers this process started before the command (main called in-process, as tests do):
    # not this command's to report.
    already_started = set(started_by_this_process())
    try:
        refuse_installer_command(args)
        return int(args.handler(args) or 0)
    except OPERATOR_ERRORS as exc:
        print(f"jifen: error: {exc}", file=sys.stderr)
        return exit_code_of(exc)
    except KeyboardInterrupt:
        return 130
    finally:
        say_what_is_left_running(args.config, already_started)


def say_what_is_left_running(config_path: str | None, already_started: set[Path]) -> None:
    """A command that had to start the embedded PostgreSQL says so, and how to stop it.

    It is not stopped here: the server is shared on purpose (the next command, `jifen up` and
    the services find and reuse it, and a start costs about a second), and a command stopping
    it could cut off another that found it running meanwhile. `jifen up` stops what it
    started itself, so it says nothing here."""
    config = f" --config {config_path}" if config_path else ""
    for data_dir in started_by_this_process():
        if data_dir in already_started:
            continue
        partition = _partition_of(config_path, data_dir)
        option = f" --partition {partition}" if partition else ""
        print(f"jifen: note: started the embedded PostgreSQL server on {data_dir}; it keeps "
              f"running for the next command. Stop it with `jifen{config} db stop{option}`.",
              file=sys.stderr)


def _partition_of(config_path: str | None, data_dir: Path) -> str | None:
    """The partition whose embedded server is on `data_dir` (`[partitions.NAME]`), if any."""
    try:
        partitions = load_config(config_path).partitions
    except ConfigError:
        return None   # the command has said what is wrong with the file
    for name, database in partitions.items():
        if Path(os.path.abspath(database.data_dir)) == data_dir:
            return name
    return None


if __name__ == "__main__":
    sys.exit(main())
