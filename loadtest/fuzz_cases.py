"""Hostile input for the front (issue 8): each case is the bytes one TCP stream carries.

Generators, each from a seeded `random.Random`, so that a failing case can be made again:
  - frame level: random bytes, wrong LEN (too long, too short, below 9, above 2048), a TPDU
    not starting with 0x60, a frame cut short (the stream then ends);
  - message level, from valid seed requests of every kind: bit flips, bytes inserted, deleted
    or replaced, a field's value changed (wrong class, length or semantics), a field dropped
    or added, bad bitmaps, non-ASCII digits, LLVAR lengths over the spec's maximum or past the
    end, and MTIs changed.
What the front must do with each case is the oracle's business (`loadtest.fuzz_oracle`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import msgspec

from proto.framing import TPDU_ID, Tpdu
from proto.iso_codec import IsoMessage, encode_iso
from proto.iso_spec import SPEC

# Bigger cases add nothing: the front closes at LEN above 2048 without reading on.
RANDOM_STREAM_SIZE_MAX = 300


class Station(msgspec.Struct, frozen=True):
    """Whose requests the seeds are: a registered, signed-on terminal and one of its cards."""

    terminal: str
    merchant: str
    pan: str
    batch: str = "000001"
    gift: str = "TEA"


def seed_messages(station: Station) -> list[IsoMessage]:
    """One valid request of every kind the host interface has (§4)."""
    common = {"7": "0101120000", "11": "000123", "41": station.terminal,
              "42": station.merchant}
    card = {"2": station.pan, "12": "120000", "13": "0101", "22": "051", "25": "00"}

    def financial(mti: str, code: str, currency: str = "156", **extra: str) -> IsoMessage:
        return {"t": mti, **common, **card, "3": code, "4": "000000001000", "49": currency,
                "60": station.batch, **extra}

    reversal = {"39": "68", "90": "0200000122" + "0101115959" + "0" * 22}
    totals = {field: "0" * (16 if int(field) > 80 else 10)
              for field in ("74", "75", "76", "77", "86", "87", "88", "89")}
    return [
        {"t": "0800", **common, "70": code} for code in ("001", "002", "101", "301")
    ] + [
        {"t": "0100", **common, **card, "3": "310000"},
        financial("0200", "000000"),
        financial("0200", "006000"),
        financial("0200", "900000", "999", **{"48": f"GC{len(station.gift):03d}{station.gift}"}),
        financial("0200", "200000", **{"37": "000000000001"}),
        financial("0200", "210000"),
        financial("0200", "400060", "999"),
        financial("0220", "000000"),
        financial("0400", "000000", **reversal),
        financial("0420", "006000", **reversal),
        {"t": "0500", **common, "3": "920000", "60": station.batch, **totals},
    ]


# ---- building bodies by hand, so that lengths and bitmaps can be wrong ---------------------

RawFields = dict[str, bytes]


def raw_fields(message: IsoMessage) -> RawFields:
    return {field: value.encode() for field, value in message.items() if field != "t"}


def length_prefix(field: str, size: int) -> bytes:
    digits = SPEC[field]["len_type"]
    return f"{size:0{digits}d}".encode() if digits else b""


def bitmap_text(numbers: set[int]) -> bytes:
    """Primary (and secondary when any field is above 64) bitmap as upper-case hex."""
    if any(number > 64 for number in numbers):
        numbers = numbers | {1}
    bits = 128 if 1 in numbers else 64
    value = sum(1 << (bits - number) for number in numbers)
    return f"{value:0{bits // 4}X}".encode()


def raw_body(mti: bytes, fields: RawFields, *, bitmap: bytes | None = None,
             prefixes: dict[str, bytes] | None = None) -> bytes:
    """MTI + bitmap + fields in order, each with its length prefix (or the one given)."""
    prefixes = prefixes or {}
    numbers = {int(field) for field in fields}
    parts = [mti, bitmap if bitmap is not None else bitmap_text(numbers)]
    for number in sorted(numbers):
        field = str(number)
        value = fields[field]
        parts.append(prefixes.get(field, length_prefix(field, len(value))))
        parts.append(value)
    return b"".join(parts)


def random_tpdu(rng: random.Random) -> Tpdu:
    return Tpdu(rng.randrange(0x10000), rng.randrange(0x10000))


def framed(rng: random.Random, body: bytes) -> bytes:
    """LEN + TPDU + body, LEN as large as the body says (past 0xFFFF: kept to 2 bytes)."""
    tpdu = random_tpdu(rng)
    length = min(5 + len(body), 0xFFFF)
    return length.to_bytes(2, "big") + tpdu.encode() + body[:length - 5]


# ---- message-level mutations: a body from a seed message ---------------------------------

_NON_ASCII_DIGITS = ["٣".encode(), "３".encode(), b"\xb3", "߃".encode(), "३".encode(), b"\x80"]
_VALUE_ALPHABETS = ["0123456789", "ABCDEFXYZ", "abc", " ", "0123456789ABCDEF", "+-.*%~"]
_ODD_FIELDS = ["5", "14", "35", "38", "39", "52", "54", "55", "64", "65", "100", "102", "128"]
_KNOWN_MTIS = [b"0100", b"0200", b"0220", b"0400", b"0420", b"0500", b"0800", b"0210",
               b"0810", b"0110", b"0300", b"9999", b"9990", b"0000"]


def _random_text(rng: random.Random, size: int) -> bytes:
    alphabet = rng.choice(_VALUE_ALPHABETS)
    return "".join(rng.choice(alphabet) for _ in range(size)).encode()


def _field_size_max(field: str) -> int:
    return SPEC[field]["max_len"]


def mutate_field_value(rng: random.Random, mti: bytes, fields: RawFields) -> bytes:
    field = rng.choice(list(fields))
    value = fields[field]
    choice = rng.randrange(5)
    if choice == 0:      # same length, other characters
        value = _random_text(rng, len(value))
    elif choice == 1:    # one character more or less
        value = value[:-1] if value and rng.random() < 0.5 else value + _random_text(rng, 1)
    elif choice == 2:    # empty, or the longest the prefix allows
        value = b"" if rng.random() < 0.5 else _random_text(rng, _field_size_max(field))
    elif choice == 3:    # digits of another meaning: zero amount, bad dates, other currency
        value = rng.choice([b"0", b"9"]) * len(value) if value else b"0"
    else:                # a single character replaced
        if value:
            position = rng.randrange(len(value))
            value = value[:position] + _random_text(rng, 1) + value[position + 1:]
    # A fixed field of another size shifts every field after it: the decoder must see that.
    return raw_body(mti, dict(fields, **{field: value}))


def mutate_non_ascii_digit(rng: random.Random, mti: bytes, fields: RawFields) -> bytes:
    numeric = [field for field, value in fields.items() if value.isdigit()]
    field = rng.choice(numeric or list(fields))
    value = fields[field] or b"0"
    position = rng.randrange(len(value))
    digit = rng.choice(_NON_ASCII_DIGITS)
    # Half the time the byte count is kept (a fixed field stays aligned), half it grows.
    tail = value[position + len(digit):] if rng.random() < 0.5 else value[position + 1:]
    return raw_body(mti, dict(fields, **{field: value[:position] + digit + tail}))


def mutate_oversize_llvar(rng: random.Random, mti: bytes, fields: RawFields) -> bytes:
    variable = [field for field in ("2", "48", "54", "60") if SPEC[field]["len_type"]]
    field = rng.choice(variable)
    digits = SPEC[field]["len_type"]
    size_max = _field_size_max(field)
    value = fields.get(field, b"1234")
    choice = rng.randrange(4)
    if choice == 0 and size_max < 10 ** digits - 1:       # over the spec's maximum
        size = rng.randint(size_max + 1, 10 ** digits - 1)
        value = _random_text(rng, size)
        prefix = length_prefix(field, size)
    elif choice == 1:                                     # past the end of the message
        prefix = f"{rng.randint(len(value) + 1, 10 ** digits - 1):0{digits}d}".encode()
    elif choice == 2:                                     # not digits
        prefix = _random_text(rng, digits).replace(b"0", b"A")
    else:                                                 # the maximum, well filled
        value = _random_text(rng, size_max)
        prefix = length_prefix(field, size_max)
    return raw_body(mti, dict(fields, **{field: value}), prefixes={field: prefix})


def mutate_bitmap(rng: random.Random, mti: bytes, fields: RawFields) -> bytes:
    numbers = {int(field) for field in fields}
    choice = rng.randrange(6)
    if choice == 0:      # a field present whose bit is cleared
        numbers.discard(rng.choice(sorted(numbers)))
        bitmap = bitmap_text(numbers)
    elif choice == 1:    # a bit set for a field that is not there
        bitmap = bitmap_text(numbers | {rng.randint(2, 128)})
    elif choice == 2:    # not hex
        text = bytearray(bitmap_text(numbers))
        text[rng.randrange(len(text))] = ord(rng.choice("GZ-x %"))
        bitmap = bytes(text)
    elif choice == 3:    # lower-case hex
        bitmap = bitmap_text(numbers).lower()
    elif choice == 4:    # secondary bitmap announced, not sent
        bitmap = bitmap_text(numbers | {1})[:16]
    else:                # cut short
        bitmap = bitmap_text(numbers)[:rng.randrange(16)]
    return raw_body(mti, fields, bitmap=bitmap)


def mutate_fields_set(rng: random.Random, mti: bytes, fields: RawFields) -> bytes:
    changed = dict(fields)
    if rng.random() < 0.5 and len(changed) > 1:
        del changed[rng.choice(list(changed))]
    else:
        field = rng.choice(_ODD_FIELDS)
        size = _field_size_max(field) if SPEC[field]["len_type"] == 0 else rng.randint(0, 30)
        changed[field] = _random_text(rng, size)
    return raw_body(mti, changed)


def mutate_mti(rng: random.Random, mti: bytes, fields: RawFields) -> bytes:
    choice = rng.randrange(3)
    if choice == 0:
        mti = rng.choice(_KNOWN_MTIS)
    elif choice == 1:
        mti = f"{rng.randrange(10000):04d}".encode()
    else:
        mti = _random_text(rng, rng.choice([3, 4, 5]))
    return raw_body(mti, fields)


# ---- byte-level mutations of an encoded body --------------------------------------------

def mutate_bytes(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 3)):
        if not data:
            data.append(rng.randrange(256))
        choice = rng.randrange(5)
        position = rng.randrange(len(data))
        if choice == 0:
            data[position] ^= 1 << rng.randrange(8)
        elif choice == 1:
            data.insert(position, rng.randrange(256))
        elif choice == 2:
            del data[position]
        elif choice == 3:
            data[position] = rng.randrange(256)
        else:
            size = rng.randint(1, 8)
            data[position:position] = data[position:position + size]
    return bytes(data)


# ---- frame-level cases -------------------------------------------------------------------

def random_stream(rng: random.Random, _seed_body: bytes) -> bytes:
    return rng.randbytes(rng.randint(1, RANDOM_STREAM_SIZE_MAX))


def random_body_frame(rng: random.Random, _seed_body: bytes) -> bytes:
    return framed(rng, rng.randbytes(rng.randint(0, RANDOM_STREAM_SIZE_MAX)))


def wrong_length(rng: random.Random, body: bytes) -> bytes:
    frame = framed(rng, body)
    actual = len(frame) - 2
    length = rng.choice([
        actual + rng.randint(1, 20), max(0, actual - rng.randint(1, 20)), rng.randint(0, 8),
        rng.randint(2049, 0xFFFF), 2049, 0,
    ])
    return length.to_bytes(2, "big") + frame[2:]


def bad_tpdu(rng: random.Random, body: bytes) -> bytes:
    frame = bytearray(framed(rng, body))
    frame[2] = rng.choice([value for value in range(256) if value != TPDU_ID])
    return bytes(frame)


def truncated(rng: random.Random, body: bytes) -> bytes:
    frame = framed(rng, body)
    return frame[:rng.randrange(1, len(frame))]


MessageMutator = Callable[[random.Random, bytes, RawFields], bytes]
MESSAGE_MUTATORS: dict[str, MessageMutator] = {
    "field_value": mutate_field_value,
    "non_ascii_digit": mutate_non_ascii_digit,
    "oversize_llvar": mutate_oversize_llvar,
    "bad_bitmap": mutate_bitmap,
    "fields_set": mutate_fields_set,
    "mti": mutate_mti,
}
StreamMaker = Callable[[random.Random, bytes], bytes]
STREAM_MAKERS: dict[str, StreamMaker] = {
    "random_bytes": random_stream,
    "random_body": random_body_frame,
    "wrong_length": wrong_length,
    "bad_tpdu": bad_tpdu,
    "truncated": truncated,
}
# Weights: mutated valid messages are most of the traffic (they reach deepest), the rest
# exercises framing.
KIND_WEIGHTS: dict[str, int] = {
    "bit_flips_and_bytes": 30, **{kind: 8 for kind in MESSAGE_MUTATORS},
    **{kind: 3 for kind in STREAM_MAKERS},
}
KINDS = list(KIND_WEIGHTS)


class Case(msgspec.Struct, frozen=True):
    kind: str
    stream: bytes


def make_case(rng: random.Random, seeds: list[IsoMessage], kind: str | None = None) -> Case:
    if kind is None:
        kind = rng.choices(KINDS, weights=list(KIND_WEIGHTS.values()))[0]
    seed = rng.choice(seeds)
    body = encode_iso(seed)
    if kind == "bit_flips_and_bytes":
        return Case(kind, framed(rng, mutate_bytes(rng, body)))
    if kind in MESSAGE_MUTATORS:
        mutated = MESSAGE_MUTATORS[kind](rng, seed["t"].encode(), raw_fields(seed))
        return Case(kind, framed(rng, mutated))
    return Case(kind, STREAM_MAKERS[kind](rng, body))


def cases(seed: int, seeds: list[IsoMessage], count: int | None = None) -> Iterator[Case]:
    """`count` cases (or endless), the same for the same seed."""
    rng = random.Random(seed)
    made = 0
    while count is None or made < count:
        yield make_case(rng, seeds)
        made += 1
