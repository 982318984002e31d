"""The demo programme: one alliance, three merchants, six terminals, a card range, 1,000 cards,
and the loyalty side (earn rules, gifts, a lottery: demo_loyalty.py).

`jifen up` runs `create_demo_if_empty` so a fresh install can take transactions at once. Demo
terminals require MAC, like any other: each gets its own random TMK, drawn here for this
installation and written to DEMO_TMKS_CSV (mode 0600, never over an existing file) for `jifen
term` to read. A public demo key would let anyone who can reach the front load stored value.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import asyncpg
import msgspec

from back_office.provisioning.alliances import create_alliance
from back_office.provisioning.card_ranges import add_card_range
from back_office.provisioning.cards import IssueSummary, issue_cards
from back_office.provisioning.demo_loyalty import create_demo_loyalty
from back_office.provisioning.merchants import create_merchant
from back_office.provisioning.settlement_rules import set_rule
from back_office.provisioning.terminals import create_terminal, new_tmk
from back_office.provisioning.tmk_files import write_tmk_csv

DEMO_ALLIANCE_CODE = "DEMO"
DEMO_BIN = "622188"
DEMO_CARD_COUNT = 1_000
DEMO_CARDS_CSV = "var/demo-cards.csv"
DEMO_HOST_NAME = "main"
DEMO_TMKS_CSV = "var/demo-tmks.csv"
TERMINALS_PER_MERCHANT = 2
# (merchant code, name, points earned per yuan)
DEMO_MERCHANTS = (
    ("DEMO00000000001", "Jade Leaf Tea House", 1),
    ("DEMO00000000002", "Riverside Bookshop", 2),
    ("DEMO00000000003", "Golden Crust Bakery", 1),
)
# Settlement rules (docs/clearing.md), in force from DEMO_RULES_FROM: every shop pays HQ 1 fen
# per point its customers earn and is paid 0.9 fen per point redeemed there, less 0.5 %
# commission; the bookshop, whose customers earn twice as fast, pays 0.6 fen a point.
# (merchant code or None for the alliance, issue price fen, redemption rate fen, bp)
DEMO_RULES_FROM = date(2000, 1, 1)
DEMO_RULES = (
    (None, "1", "0.9", 50),
    ("DEMO00000000002", "0.6", "0.9", 50),
)
# Advisory lock key of demo creation, so two `jifen up` at once cannot both create it.
DEMO_LOCK_KEY = 0x4A4946454E  # "JIFEN"


class DemoTerminal(msgspec.Struct, frozen=True):
    terminal_code: str
    merchant_code: str
    merchant_name: str


class DemoSummary(msgspec.Struct, frozen=True):
    alliance_code: str
    merchants: list[str]
    terminals: list[DemoTerminal]
    card_range: str
    cards: IssueSummary
    tmks_csv_path: str
    loyalty: list[str] = []

    def describe(self) -> str:
        """What was created, for a person: terminals and merchants, sample cards, the CSV."""
        lines = [f"demo alliance {self.alliance_code} with {len(self.merchants)} merchants and "
                 f"{len(self.terminals)} terminals:"]
        lines += [f"  terminal {terminal.terminal_code}  merchant {terminal.merchant_code}  "
                  f"{terminal.merchant_name}" for terminal in self.terminals]
        lines += [
            f"card range {self.card_range}",
            f"{self.cards.count} cards under BIN {self.cards.bin}, e.g. "
            + ", ".join(self.cards.sample_pans_masked),
            f"all card numbers: {self.cards.csv_path}",
            f"terminal TMKs (each demo terminal requires MAC; keep this file private): "
            f"{self.tmks_csv_path}",
            *self.loyalty,
            f"try: jifen term --terminal {self.terminals[0].terminal_code} --merchant "
            f"{self.terminals[0].merchant_code} --tmk-file {self.tmks_csv_path} signon",
        ]
        return "\n".join(lines)


async def create_demo(
    conn: asyncpg.Connection,
    cards_csv: str | Path = DEMO_CARDS_CSV, tmks_csv: str | Path = DEMO_TMKS_CSV,
    *, kek: bytes | None = None,
) -> DemoSummary:
    """Create the whole demo in one transaction: all of it or, on any error, none of it. The
    TMK file is written last, inside the transaction: if it cannot be, nothing is created."""
    tmks: list[tuple[str, bytes]] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", DEMO_LOCK_KEY)
        await create_alliance(conn, DEMO_ALLIANCE_CODE, "Demo Coalition", "Asia/Shanghai",
                              "23:00", 100)
        terminals = []
        for index, (merchant_code, name, rate) in enumerate(DEMO_MERCHANTS):
            await create_merchant(conn, DEMO_ALLIANCE_CODE, merchant_code, name, rate)
            for number in range(TERMINALS_PER_MERCHANT):
                terminal_code = f"DEMO{index * TERMINALS_PER_MERCHANT + number + 1:04d}"
                tmk = new_tmk()
                await create_terminal(conn, terminal_code, merchant_code, tmk,
                                      requires_mac=True)
                tmks.append((terminal_code, tmk))
                terminals.append(DemoTerminal(terminal_code, merchant_code, name))
        for rule_merchant_code, issue_price, redemption_rate, commission_bp in DEMO_RULES:
            await set_rule(conn, DEMO_ALLIANCE_CODE, rule_merchant_code, DEMO_RULES_FROM,
                           issue_price, redemption_rate, commission_bp)
        card_range = await add_card_range(conn, DEMO_BIN, DEMO_BIN, DEMO_HOST_NAME)
        cards = await issue_cards(conn, DEMO_ALLIANCE_CODE, DEMO_BIN, DEMO_CARD_COUNT,
                                  csv_path=cards_csv, kek=kek)
        loyalty = await create_demo_loyalty(conn, DEMO_ALLIANCE_CODE)
        write_tmk_csv(tmks_csv, tmks)
    return DemoSummary(
        alliance_code=DEMO_ALLIANCE_CODE,
        merchants=[code for code, _, _ in DEMO_MERCHANTS], terminals=terminals,
        card_range=f"{card_range.bin_low}-{card_range.bin_high} -> {card_range.host_name}",
        cards=cards, tmks_csv_path=str(tmks_csv), loyalty=loyalty,
    )


async def create_demo_if_empty(
    conn: asyncpg.Connection,
    cards_csv: str | Path = DEMO_CARDS_CSV, tmks_csv: str | Path = DEMO_TMKS_CSV,
    *, kek: bytes | None = None,
) -> DemoSummary | None:
    """The demo, unless any alliance exists already (then None, and nothing is written)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", DEMO_LOCK_KEY)
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM alliances)"):
            return None
        return await create_demo(conn, cards_csv, tmks_csv, kek=kek)
