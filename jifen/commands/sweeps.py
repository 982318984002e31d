"""The nightly jobs' commands (`jifen rules expire`, `jifen rules review-tiers`): each alliance's
run (or one's), printed with its commands' outcomes; exit 1 when a command was refused or is
still pending when the wait ends (the host applies it when it can; run again to see)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import asyncpg

from back_office.balances.commands import CommandOutcome
from back_office.provisioning.alliances import list_alliances
from database.roles import Role
from jifen.commands.runner import print_json, run_command


class _Run(Protocol):
    @property
    def commands(self) -> list[CommandOutcome]: ...


_R = TypeVar("_R", bound=_Run)


def run_sweeps(
    args: argparse.Namespace, run_one: Callable[[asyncpg.Connection, str], Awaitable[_R]],
    headline: Callable[[_R], str], what: str,
) -> int:
    """`run_one` for `--alliance` or every alliance; `headline` a run's first line; `what`
    names the commands in the error ("expiry")."""
    async def run(conn: asyncpg.Connection) -> list[_R]:
        codes = [args.alliance] if args.alliance else [
            alliance.code for alliance in await list_alliances(conn)]
        return [await run_one(conn, code) for code in codes]

    runs: Sequence[_R] = run_command(args, Role.BACK_OFFICE, run)
    if args.json:
        print_json(runs)
    else:
        for done in runs:
            print(headline(done))
            for outcome in done.commands:
                print(f"  command {outcome.id}: {outcome.state} {outcome.result_code or ''}"
                      f" {outcome.result or ''}".rstrip())
    unfinished = [outcome for done in runs for outcome in done.commands
                  if outcome.state != "done"]
    if unfinished:
        print(f"jifen: error: {len(unfinished)} {what} commands not done (pending or refused):"
              " `jifen card commands --pending`", file=sys.stderr)
        return 1
    return 0
