"""Field formats of the host interface (§3) and the composite fields 48, 54 and 90."""

from __future__ import annotations

import msgspec

from proto.frames import Balances, Totals


class FieldFormat(msgspec.Struct, frozen=True):
    kind: str          # "n" digits, "an" letters and digits, "ans" printable, "hex" upper-case hex
    length_min: int
    length_max: int


def _fixed(kind: str, length: int) -> FieldFormat:
    return FieldFormat(kind, length, length)


FIELD_FORMATS: dict[str, FieldFormat] = {
    "2": FieldFormat("n", 1, 19),   # 16-19 and Luhn are the card check (14), not the format
    "3": _fixed("n", 6),
    "4": _fixed("n", 12),
    "7": _fixed("n", 10),
    "11": _fixed("n", 6),
    "12": _fixed("n", 6),
    "13": _fixed("n", 4),
    "22": _fixed("n", 3),
    "25": _fixed("n", 2),
    "37": _fixed("an", 12),
    "38": _fixed("an", 6),
    "39": _fixed("an", 2),
    "41": _fixed("ans", 8),
    "42": _fixed("ans", 15),
    "48": FieldFormat("ans", 0, 999),
    "49": _fixed("n", 3),
    "52": _fixed("hex", 16),        # the card password's PIN block (1.2)
    "54": FieldFormat("an", 0, 120),
    "60": _fixed("n", 6),
    "64": _fixed("hex", 16),
    "70": _fixed("n", 3),
    "74": _fixed("n", 10),
    "75": _fixed("n", 10),
    "76": _fixed("n", 10),
    "77": _fixed("n", 10),
    "86": _fixed("n", 16),
    "87": _fixed("n", 16),
    "88": _fixed("n", 16),
    "89": _fixed("n", 16),
    "90": _fixed("n", 42),
    "128": _fixed("hex", 16),
}

_HEX = frozenset("0123456789ABCDEF")


def is_well_formed(field: str, value: str) -> bool:
    """True when `value` fits the field's format; fields we do not define are accepted."""
    spec = FIELD_FORMATS.get(field)
    if spec is None:
        return True
    if not spec.length_min <= len(value) <= spec.length_max:
        return False
    if spec.kind == "n":
        return value.isascii() and value.isdigit()
    if spec.kind == "an":
        return value.isascii() and value.isalnum()
    if spec.kind == "hex":
        return all(char in _HEX for char in value)
    return value.isascii() and value.isprintable()


def is_valid_transmission_time(value: str) -> bool:
    """Field 7, MMDDhhmmss: a calendar month and day and a clock time."""
    month, day = int(value[0:2]), int(value[2:4])
    hour, minute, second = int(value[4:6]), int(value[6:8]), int(value[8:10])
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60


# ---- field 48: tag (2) + length (3 digits) + value, repeated ----------------------------

class TlvError(ValueError):
    pass


def parse_tlv(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    position = 0
    while position < len(text):
        header = text[position:position + 5]
        if len(header) < 5 or not header[2:].isdigit():
            raise TlvError(f"bad TLV header at {position}")
        length = int(header[2:])
        value = text[position + 5:position + 5 + length]
        if len(value) != length:
            raise TlvError(f"TLV {header[:2]} is cut short")
        tags[header[:2]] = value
        position += 5 + length
    return tags


# Tags of a 0200/900000 request (host interface §5): a gift from the catalogue, or the whole
# order (n12, fen) that the points pay part of; never both (30).
GIFT_CODE_TAG = "GC"
ORDER_AMOUNT_TAG = "OA"
_ORDER_AMOUNT_LENGTH = 12


def request_tags_fit(tags: dict[str, str]) -> bool:
    """Whether a request's field 48 tags fit their formats: OA is n12, and GC and OA do not
    come together. Checked by the front (30) and again by the host."""
    order = tags.get(ORDER_AMOUNT_TAG)
    if order is None:
        return True
    return len(order) == _ORDER_AMOUNT_LENGTH and order.isascii() and order.isdigit() \
        and GIFT_CODE_TAG not in tags


def encode_tlv(tags: dict[str, str]) -> str:
    return "".join(f"{tag}{len(value):03d}{value}" for tag, value in tags.items())


def signed_points(points: int) -> str:
    """Tag PT's text: + or - then digits."""
    return f"{'-' if points < 0 else '+'}{abs(points)}"


# ---- field 54: 20-character balance blocks -----------------------------------------------

def _balance_block(account_type: str, amount_type: str, currency: str, amount: int) -> str:
    return f"{account_type}{amount_type}{currency}{'D' if amount < 0 else 'C'}{abs(amount):012d}"


def render_balances(balances: Balances, with_points_moved: bool) -> str:
    """Points ledger balance, stored-value ledger balance, and (0210/0230) points moved."""
    text = _balance_block("00", "01", "999", balances.points) + \
        _balance_block("60", "01", "156", balances.stored_value_fen)
    if with_points_moved:
        text += _balance_block("00", "90", "999", balances.points_moved)
    return text


def parse_balances(text: str) -> dict[str, int]:
    """Blocks of field 54 by their first 7 characters ("0001999") -> signed amount."""
    blocks: dict[str, int] = {}
    for start in range(0, len(text) - 19, 20):
        block = text[start:start + 20]
        amount = int(block[8:20])
        blocks[block[:7]] = -amount if block[7] == "D" else amount
    return blocks


# ---- fields 74-77 and 86-89: reconciliation totals ----------------------------------------

TOTALS_FIELDS = (
    ("74", "purchases_count"), ("86", "purchases_fen"),
    ("75", "returns_count"), ("87", "returns_fen"),
    ("76", "redemptions_count"), ("88", "redemptions_points"),
    ("77", "loads_count"), ("89", "loads_fen"),
)


def totals_from_fields(message: dict[str, str]) -> Totals:
    return Totals(**{name: int(message[field]) for field, name in TOTALS_FIELDS})


def totals_to_fields(totals: Totals) -> dict[str, str]:
    width = {"74": 10, "75": 10, "76": 10, "77": 10}
    return {
        field: f"{getattr(totals, name):0{width.get(field, 16)}d}"
        for field, name in TOTALS_FIELDS
    }


# ---- field 90: original data elements ------------------------------------------------------

class OriginalData(msgspec.Struct, frozen=True):
    mti: str
    stan: str
    transmission_time: str


def parse_original_data(text: str) -> OriginalData:
    return OriginalData(text[0:4], text[4:10], text[10:20])


def encode_original_data(original: OriginalData) -> str:
    return f"{original.mti}{original.stan}{original.transmission_time}{'0' * 22}"
