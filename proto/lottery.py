"""The points lottery's draw (host interface 1.2, 0200 910000): which prize a draw wins, as a
function the host applies and an auditor re-derives (`jifen lottery verify`) once the
campaign's secret is published.

A draw's value is HMAC-SHA256(secret, "jifen/lottery/v1|<card id>|<n>"), n the number of the
card's draws in the campaign that stand (not reversed) before this one; its first 8 bytes as a
big-endian integer modulo 1,000,000 fall in one prize's share of the table (parts per million,
in the table's order), or past them all: no prize. So a retransmission is answered as first
(the host remembers it), and a reversed draw drawn again gets the same outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

PARTS = 1_000_000
SECRET_SIZE_BYTES = 32
NO_PRIZE = "NONE"             # tag LD when the draw wins nothing (or a prize out of stock)
PRIZES_MAX = 50
_PRIZE_CODE = re.compile(r"^[A-Z0-9]{1,8}$")   # tag LD: ans..8


class PrizeKind(StrEnum):
    POINTS = "points"       # posted to the card in the draw's transaction
    GIFT = "gift"           # a gift from the catalogue, handed over at the counter


class Prize(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: str
    kind: PrizeKind
    ppm: Annotated[int, Meta(gt=0, le=PARTS)]            # its chance, parts per million
    points: Annotated[int, Meta(ge=0, le=10**9)] = 0     # a points prize's points
    gift_code: str | None = None                         # a gift prize's catalogue code
    stock: Annotated[int, Meta(ge=0, le=10**9)] | None = None   # None: unlimited


class PrizeTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A campaign's prizes, in order; the chances left over win nothing."""

    prizes: tuple[Prize, ...]


class InvalidPrizeTable(ValueError):
    pass


def check_table(table: PrizeTable) -> None:
    if not 1 <= len(table.prizes) <= PRIZES_MAX:
        raise InvalidPrizeTable(f"1 to {PRIZES_MAX} prizes")
    codes = [prize.code for prize in table.prizes]
    for prize in table.prizes:
        if not _PRIZE_CODE.match(prize.code) or prize.code == NO_PRIZE:
            raise InvalidPrizeTable(f"prize code {prize.code!r}: 1-8 capitals or digits, not"
                                    f" {NO_PRIZE}")
        if (prize.kind is PrizeKind.POINTS) != (prize.points > 0):
            raise InvalidPrizeTable(f"prize {prize.code}: a points prize has points, a gift"
                                    " none")
        if (prize.kind is PrizeKind.GIFT) != (prize.gift_code is not None):
            raise InvalidPrizeTable(f"prize {prize.code}: a gift prize names its gift_code")
    if len(set(codes)) != len(codes):
        raise InvalidPrizeTable("prize codes are unique")
    if sum(prize.ppm for prize in table.prizes) > PARTS:
        raise InvalidPrizeTable(f"the chances add up to more than {PARTS} ppm")


def draw_value(secret: bytes, card_id: int, draw_number: int) -> int:
    """0 <= value < PARTS."""
    message = f"jifen/lottery/v1|{card_id}|{draw_number}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % PARTS


def prize_index(table: PrizeTable, value: int) -> int | None:
    """The prize whose share holds `value`, or None: no prize."""
    bound = 0
    for index, prize in enumerate(table.prizes):
        bound += prize.ppm
        if value < bound:
            return index
    return None


_JSON = msgspec.json.Encoder()


def encode_table(table: PrizeTable) -> str:
    return _JSON.encode(table).decode()


def decode_table(text: str | bytes) -> PrizeTable:
    try:
        table = msgspec.json.decode(text, type=PrizeTable)
    except msgspec.DecodeError as exc:
        raise InvalidPrizeTable(str(exc)) from exc
    check_table(table)
    return table
