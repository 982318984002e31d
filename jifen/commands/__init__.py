"""Subcommands of `jifen`. Each module has `register(subparsers)` and sets `handler`."""

from jifen.commands import (
    alliance,
    approval,
    audit,
    audit_log,
    card,
    clearing,
    db,
    demo,
    dialup,
    gift,
    loadtest,
    lottery,
    member,
    merchant,
    notify,
    operator,
    partition,
    pki,
    purchase_import,
    report,
    risk,
    rules,
    saf,
    services,
    settlement,
    shop,
    status,
    term,
    terminal,
    transit,
    txn,
    up,
)

# In the order `jifen --help` lists them: running the system first, then operating it.
COMMAND_MODULES = [
    up, services, notify, status, pki, db, partition, alliance, merchant, shop, terminal, card,
    gift, member, transit, demo, term, audit, loadtest, dialup, settlement, rules, risk, lottery,
    clearing, report, saf, operator, approval, audit_log, txn, purchase_import,
]
