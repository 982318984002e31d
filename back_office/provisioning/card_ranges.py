"""Card ranges: which account host holds the cards whose PAN starts in [bin_low, bin_high].

Ranges may not overlap, whatever their lengths, so that every PAN has at most one route.
"""

from __future__ import annotations

import asyncpg
import msgspec

from back_office.audit_trail import record
from back_office.provisioning import validate
from back_office.provisioning.errors import ConflictError, InvalidValueError
from back_office.provisioning.notify import notify_change
from proto.changes import Change, Table

HOST_NAME_LENGTH_MAX = 64  # a key of the switch's host map, not free text

# cards.pan_masked keeps the first 6 digits: the most a range can name (migration 008).
CARD_RANGE_DIGITS_MAX = 6


class CardRange(msgspec.Struct, frozen=True):
    id: int
    bin_low: str
    bin_high: str
    host_name: str

    def widened(self, length: int) -> tuple[str, str]:
        """The same range over `length`-digit prefixes."""
        padding = length - len(self.bin_low)
        return self.bin_low + "0" * padding, self.bin_high + "9" * padding

    def overlaps(self, other: CardRange) -> bool:
        length = max(len(self.bin_low), len(other.bin_low))
        low, high = self.widened(length)
        other_low, other_high = other.widened(length)
        return low <= other_high and other_low <= high

    def routes_all(self, bin_prefix: str) -> bool:
        """Whether every PAN starting with `bin_prefix` falls in this range."""
        if len(self.bin_low) > len(bin_prefix):
            low, high = CardRange(0, bin_prefix, bin_prefix, "").widened(len(self.bin_low))
            return self.bin_low <= low and high <= self.bin_high
        return self.bin_low <= bin_prefix[:len(self.bin_low)] <= self.bin_high


async def add_card_range(
    conn: asyncpg.Connection, bin_low: str, bin_high: str, host_name: str = "main"
) -> CardRange:
    low, high = validate.bin_digits(bin_low, "BIN low"), validate.bin_digits(bin_high, "BIN high")
    if len(low) != len(high) or low > high:
        raise InvalidValueError(f"BIN low {low} and high {high} must have the same number of "
                                "digits, low first")
    if len(low) > CARD_RANGE_DIGITS_MAX:
        raise InvalidValueError(
            f"card ranges have at most {CARD_RANGE_DIGITS_MAX} digits (a card is routed by the "
            f"BIN kept in its masked number), not {len(low)}")
    if not host_name or len(host_name) > HOST_NAME_LENGTH_MAX or not host_name.isprintable():
        raise InvalidValueError(f"host name must be 1-{HOST_NAME_LENGTH_MAX} printable "
                                "characters")
    async with conn.transaction():
        # One writer at a time, so two overlapping ranges cannot both pass the check.
        await conn.execute("LOCK TABLE card_ranges IN SHARE ROW EXCLUSIVE MODE")
        candidate = CardRange(0, low, high, host_name)
        for existing in await list_card_ranges(conn):
            if existing.overlaps(candidate):
                raise ConflictError(
                    f"{low}-{high} overlaps card range {existing.bin_low}-{existing.bin_high}"
                    f" (host {existing.host_name})"
                )
        range_id = await conn.fetchval(
            "INSERT INTO card_ranges (bin_low, bin_high, host_name) VALUES ($1, $2, $3)"
            " RETURNING id", low, high, host_name,
        )
        await record(conn, "card_range.add", "card_range", f"{low}-{high}",
                     after={"bin_low": low, "bin_high": high, "host_name": host_name})
        await notify_change(conn, Change(Table.CARD_RANGES))
    return CardRange(range_id, low, high, host_name)


async def list_card_ranges(conn: asyncpg.Connection) -> list[CardRange]:
    rows = await conn.fetch(
        "SELECT id, bin_low, bin_high, host_name FROM card_ranges ORDER BY bin_low, id"
    )
    return [CardRange(**dict(row)) for row in rows]


async def routing_range(conn: asyncpg.Connection, bin_prefix: str) -> CardRange | None:
    """The range that routes every card with this BIN, if there is one."""
    for card_range in await list_card_ranges(conn):
        if card_range.routes_all(bin_prefix):
            return card_range
    return None
