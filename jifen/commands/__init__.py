"""Subcommands of `jifen`. Each module has `register(subparsers)` and sets `handler`."""

from jifen.commands import (
    alliance,
    audit,
    audit_log,
    card,
    clearing,
    db,
    demo,
    dialup,
    loadtest,
    merchant,
    operator,
    pki,
    saf,
    services,
    settlement,
    term,
    terminal,
    up,
)

# In the order `jifen --help` lists them: running the system first, then operating it.
COMMAND_MODULES = [
    up, services, pki, db, alliance, merchant, terminal, card, demo, term, audit, loadtest, dialup,
    settlement, clearing, saf, operator, audit_log,
]
