"""Card passwords (host interface 1.2, §4 "Card password", §7): what the front, the host and
the back office agree on.

A card's password is kept only as its verification value, as card schemes keep a PVV: a MAC of
the PAN and the password under the PIN verification key (the `pin_verification` data key),
here HMAC-SHA256 truncated to 16 bytes. The back office computes it when it sets a password;
the front's security module computes it from field 52 and forwards it in `Request.
card_password`; the host compares the two and counts wrong tries. Neither password nor PIN
block crosses a link, and the host holds no key that could test a guess.
"""

from __future__ import annotations

import hmac

from proto.codes import Mti, ProcessingCode

VERIFICATION_VALUE_SIZE_BYTES = 16
_DOMAIN = b"jifen/card-password/v1"
# `Request.card_password` for a field 52 that did not decrypt to a well-formed format 0 block:
# a wrong try (§4), which no verification value equals.
MALFORMED_BLOCK = b""
# The third wrong try in a row locks the card's password (75) until the back office resets it.
PASSWORD_TRIES_MAX = 3
# The 0200s that need the password of a card that has one (§4); reversals never do.
PASSWORD_PROCESSING_CODES = frozenset({
    ProcessingCode.PURCHASE_STORED_VALUE, ProcessingCode.REDEMPTION, ProcessingCode.LOTTERY,
    ProcessingCode.POINTS_TO_STORED_VALUE,
})


def needs_password(mti: str, processing_code: str | None) -> bool:
    """Whether this request needs the card's password, where the card has one."""
    return mti == Mti.FINANCIAL and processing_code in PASSWORD_PROCESSING_CODES


def verification_value(pin_verification_key: bytes, pan: str, password: str) -> bytes:
    """The card's password verification value (cards.password_verification)."""
    assert len(pin_verification_key) == 32, "the pin_verification data key"
    message = b"\0".join((_DOMAIN, pan.encode("ascii"), password.encode("ascii")))
    return hmac.digest(pin_verification_key, message, "sha256")[:VERIFICATION_VALUE_SIZE_BYTES]


def values_equal(stored: bytes, offered: bytes) -> bool:
    """Constant time, so timing tells nothing of the stored value."""
    return hmac.compare_digest(stored, offered)
