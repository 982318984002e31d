"""The demo alliance over two partitions (`jifen up --partitions 2`): a second card range,
routed to the second partition's host, with cards of its own.

Card ranges are at most 6 digits (a card is routed by the BIN its masked number keeps), and the
demo's is one BIN, 622188: it cannot be cut in two without re-numbering its cards. So the demo
keeps 622188 on main (its cards keep working, wherever they were printed) and gets the next
BIN, 622189, on the second partition, with DEMO_PARTITION_CARD_COUNT cards issued on central
(replication carries them to the partition). Done once: a range already routed there is left
as it is.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import msgspec

from back_office.provisioning.card_ranges import add_card_range, routing_range
from back_office.provisioning.cards import issue_cards
from back_office.provisioning.demo import DEMO_ALLIANCE_CODE, DEMO_LOCK_KEY

DEMO_PARTITION_BIN = "622189"
DEMO_PARTITION_CARD_COUNT = 1_000
DEMO_PARTITION_CARDS_CSV = "var/demo-cards-{name}.csv"


class DemoSplit(msgspec.Struct, frozen=True):
    card_range: str
    cards: int
    csv_path: str | None

    def describe(self) -> str:
        return (f"demo card range {self.card_range}: {self.cards} cards"
                + (f", numbers in {self.csv_path}" if self.csv_path else ""))


async def split_demo_range(
    conn: asyncpg.Connection, partition: str, csv_path: str | Path | None = None,
    *, kek: bytes | None = None,
) -> DemoSplit | None:
    """Route DEMO_PARTITION_BIN to `partition` and issue its demo cards, unless the demo is
    absent or the BIN is routed already (None: nothing written). One transaction."""
    csv_path = csv_path or DEMO_PARTITION_CARDS_CSV.format(name=partition)
    async with conn.transaction():
        # The demo's creation's lock: two `jifen up` at once cannot both split it.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", DEMO_LOCK_KEY)
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM alliances WHERE code = $1)",
                                   DEMO_ALLIANCE_CODE):
            return None
        if await routing_range(conn, DEMO_PARTITION_BIN) is not None:
            return None
        card_range = await add_card_range(conn, DEMO_PARTITION_BIN, DEMO_PARTITION_BIN,
                                          partition)
        cards = await issue_cards(conn, DEMO_ALLIANCE_CODE, DEMO_PARTITION_BIN,
                                  DEMO_PARTITION_CARD_COUNT, csv_path=csv_path, kek=kek)
    return DemoSplit(f"{card_range.bin_low}-{card_range.bin_high} -> {partition}",
                     cards.count, cards.csv_path)
