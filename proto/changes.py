"""Changes of reference data, announced to the running services: one PostgreSQL channel, one
typed payload.

Whoever changes reference data (the back office, clearing) NOTIFYs inside its own transaction,
so the notice is delivered only if the change commits. Each service LISTENs on `CHANNEL` and
reloads what concerns it: the front terminals and merchants, the switch card ranges, the
account host everything else. A payload names a table, and optionally the one row that changed
(`cards:<id>`: a card reported lost); without a row, the table is read again.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

CHANNEL = "jifen_changes"
# pg_notify's arguments: `connection.execute(NOTIFY_SQL, CHANNEL, encode_change(change))`.
NOTIFY_SQL = "SELECT pg_notify($1, $2)"
_ROW_SEPARATOR = ":"


class Table(StrEnum):
    ALLIANCES = "alliances"
    MERCHANTS = "merchants"
    TERMINALS = "terminals"
    CARDS = "cards"
    CARD_RANGES = "card_ranges"
    # A business date sealed by clearing: the host reads it with the alliances.
    BUSINESS_DAYS = "business_days"
    GIFT_CATALOGUE = "gift_catalogue"
    # A back-office command for the account host (proto.host_commands).
    HOST_COMMANDS = "host_commands"
    # A version of an alliance's earn rules (proto.earn_rules).
    EARN_RULES = "earn_rules"
    # A lottery campaign opened or ended (proto.lottery).
    LOTTERY = "lottery_campaigns"
    # A new version of an alliance's risk settings, or the nightly baselines (migration 034).
    RISK_SETTINGS = "risk_settings"
    RISK_BASELINES = "risk_baselines"


class Change(msgspec.Struct, frozen=True):
    table: Table
    # The one row that changed; None: the table changed (new rows, or many).
    row_id: int | None = None


def encode_change(change: Change) -> str:
    if change.row_id is None:
        return change.table.value
    assert change.row_id > 0, change
    return f"{change.table.value}{_ROW_SEPARATOR}{change.row_id}"


def decode_change(payload: str) -> Change | None:
    """The change a payload announces; None for one this version does not know (a newer
    writer's): the listener ignores it rather than stop."""
    table, separator, row = payload.partition(_ROW_SEPARATOR)
    try:
        kind = Table(table)
    except ValueError:
        return None
    if not separator:
        return Change(kind)
    if not row.isdigit() or row != str(int(row)) or not 0 < int(row) < 2**63:
        return None   # one spelling per change: no signs, spaces or leading zeros
    return Change(kind, int(row))
