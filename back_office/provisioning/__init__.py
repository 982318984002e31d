"""Provisioning: alliances, merchants, terminals, card ranges and cards, and the demo data.

Each function takes an asyncpg connection, checks its input first (ProvisioningError, a
anything wrong), writes in one transaction and NOTIFYs `proto.changes` with the
table's name, so running services reload. The `jifen` commands and the tests call them alike.
"""

from back_office.provisioning.alliances import Alliance, create_alliance, list_alliances
from back_office.provisioning.card_ranges import CardRange, add_card_range, list_card_ranges
from back_office.provisioning.cards import IssueSummary, issue_cards, parse_expiry
from back_office.provisioning.demo import DemoSummary, create_demo, create_demo_if_empty
from back_office.provisioning.errors import (
    CardSpaceError,
    ConflictError,
    DuplicateError,
    InvalidValueError,
    NotFoundError,
    ProvisioningError,
)
from back_office.provisioning.merchants import (
    Merchant,
    create_merchant,
    list_merchants,
    set_merchant_active,
)
from back_office.provisioning.notify import notify_change
from back_office.provisioning.terminals import Terminal, create_terminal, list_terminals

__all__ = [
    "Alliance", "CardRange", "CardSpaceError", "ConflictError",
    "DemoSummary", "DuplicateError", "InvalidValueError", "IssueSummary", "Merchant",
    "NotFoundError", "ProvisioningError", "Terminal", "add_card_range", "create_alliance",
    "create_demo", "create_demo_if_empty", "create_merchant", "create_terminal",
    "issue_cards", "list_alliances", "list_card_ranges", "list_merchants", "list_terminals",
    "notify_change", "parse_expiry", "set_merchant_active",
]
