"""Subcommands of `jifen`. Each module has `register(subparsers)` and sets `handler`."""

from jifen.commands import (
    alliance, audit, card, db, demo, dialup, loadtest, merchant, services, term, terminal, up,
)

# In the order `jifen --help` lists them: running the system first, then operating it.
COMMAND_MODULES = [
    up, services, db, alliance, merchant, terminal, card, demo, term, audit, loadtest, dialup,
]
