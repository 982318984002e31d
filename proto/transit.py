"""What a transfer's debit carries to its credit (or its void) across partitions.

A transfer between cards of two partitions is three host commands at most (proto/host_commands
TRANSIT_KINDS), each decided by its own partition's host. The debit's outcome holds what it
took, as the host saw it when it posted: the points (and a replacement's stored value), and the
lots they left (their last days, as transactions.lot_moves stores them), so that the credit
keeps the points' expiry and a void puts them back where they were; a replacement's also the
holder's tier standing and the old card's status. It travels in the outcome's `carried` column
(migration 038), folded into the debit's row on central and replicated to the destination with
it.
"""

from __future__ import annotations

import msgspec

from proto.tiers import STANDING_BYTES

# The most one outcome may carry (the column's check): 12 bytes a lot move, so thousands of
# lots, where a card holds a few dozen at most.
CARRIED_SIZE_MAX = 65_536


class Carried(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # taken from the giver: > 0 for a points transfer; a replacement's whole balance (below
    # zero after a return's claw-back)
    points: int
    stored_value_fen: int = 0  # taken from the giver's stored value (a replacement's)
    lot_moves: bytes = b""     # the giver's lots' moves, as transactions.lot_moves
    # A replacement's: the holder's tier standing (proto/tiers.py; b"": none), and the old
    # card's status before the debit closed it (a void reopens it so).
    standing: bytes = b""
    status_before: str = ""


class InvalidCarried(ValueError):
    """A carried value that does not decode, or that no debit would have written."""


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Carried)


def encode_carried(carried: Carried) -> bytes:
    encoded = _ENCODER.encode(carried)
    assert len(encoded) <= CARRIED_SIZE_MAX, len(encoded)
    return encoded


def decode_carried(data: bytes) -> Carried:
    try:
        carried = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidCarried(f"the debit's carried value does not decode: {exc}") from exc
    if carried.stored_value_fen < 0 or len(carried.lot_moves) % 12 \
            or len(carried.standing) not in (0, STANDING_BYTES):
        raise InvalidCarried("the debit's carried value is not one a debit writes")
    return carried
