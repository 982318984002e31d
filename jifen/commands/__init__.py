"""Subcommands of `jifen`. Each module has `register(subparsers)` and sets `handler`."""

from jifen.commands import (
    alliance,
    audit,
    card,
    clearing,
    db,
    demo,
    dialup,
    loadtest,
    merchant,
    pki,
    saf,
    services,
    settlement,
    term,
    terminal,
    txn,
    up,
)

# In the order `jifen --help` lists them: running the system first, then operating it.
COMMAND_MODULES = [
    up, services, pki, db, alliance, merchant, terminal, card, demo, term, audit, loadtest, dialup,
    settlement, clearing, saf, txn,
]
